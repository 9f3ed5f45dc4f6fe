/* npy.c - NumPy .npy reading and writing (versions 1-3, little-endian, C order). */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *descr;
    pl_dtype dtype;
} npy_types[] = {
    {"<f4", PL_DT_FLOAT},  {"<f8", PL_DT_DOUBLE}, {"<f2", PL_DT_FLOAT16}, {"|u1", PL_DT_UINT8},
    {"|i1", PL_DT_INT8},   {"<u2", PL_DT_UINT16}, {"<i2", PL_DT_INT16},   {"<i4", PL_DT_INT32},
    {"<i8", PL_DT_INT64},  {"<u4", PL_DT_UINT32}, {"<u8", PL_DT_UINT64},  {"|b1", PL_DT_BOOL},
};

static pl_status parse_header(const char *path, const char *h, pl_dtype *dtype, int *rank,
                              int64_t *dims) {
    const char *d = strstr(h, "'descr'");
    const char *f = strstr(h, "'fortran_order'");
    const char *s = strstr(h, "'shape'");
    if (!d || !f || !s) return pl_err(PL_ERR_INVALID, "%s: .npy header lacks descr, fortran_order or shape", path);
    d = strchr(d + 7, '\'');
    if (!d) return pl_err(PL_ERR_INVALID, "%s: .npy descr is malformed", path);
    d++;
    *dtype = PL_DT_UNDEFINED;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (!strncmp(d, npy_types[i].descr, 3) && d[3] == '\'') *dtype = npy_types[i].dtype;
    if (*dtype == PL_DT_UNDEFINED) {
        char shown[16] = {0};
        strncpy(shown, d, 8);
        return pl_err(PL_ERR_UNSUPPORTED, "%s: .npy dtype '%s' is not supported (little-endian numbers and bool only)",
                      path, strtok(shown, "'"));
    }
    if (strstr(f, "True") && strstr(f, "True") < s + 1 && strstr(f, "True") - f < 24)
        return pl_err(PL_ERR_UNSUPPORTED, "%s: Fortran-order .npy files are not supported", path);
    s = strchr(s, '(');
    if (!s) return pl_err(PL_ERR_INVALID, "%s: .npy shape is malformed", path);
    s++;
    *rank = 0;
    while (*s && *s != ')') {
        while (*s == ' ' || *s == ',') s++;
        if (*s == ')') break;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || errno || v < 0)
            return pl_err(PL_ERR_INVALID, "%s: .npy shape is malformed", path);
        if (*rank >= PL_MAX_RANK) return pl_err(PL_ERR_INVALID, "%s: .npy rank exceeds %d", path, PL_MAX_RANK);
        dims[(*rank)++] = v;
        s = end;
    }
    if (*s != ')') return pl_err(PL_ERR_INVALID, "%s: .npy shape is malformed", path);
    return PL_OK;
}

pl_status pl_tensor_load_npy(const char *path, pl_tensor **out) {
    *out = NULL;
    void *buf;
    size_t size;
    PL_TRY(pl_read_file(path, &buf, &size));
    const uint8_t *b = buf;
    pl_status st = PL_OK;
    size_t hlen = 0, hoff = 0;
    if (size < 10 || memcmp(b, "\x93NUMPY", 6) != 0) {
        st = pl_err(PL_ERR_INVALID, "%s: not a .npy file (bad magic)", path);
    } else if (b[6] == 1) {
        hlen = (size_t)b[8] | ((size_t)b[9] << 8);
        hoff = 10;
    } else if ((b[6] == 2 || b[6] == 3) && size >= 12) {
        hlen = (size_t)b[8] | ((size_t)b[9] << 8) | ((size_t)b[10] << 16) | ((size_t)b[11] << 24);
        hoff = 12;
    } else {
        st = pl_err(PL_ERR_UNSUPPORTED, "%s: .npy version %d is not supported", path, b[6]);
    }
    if (st == PL_OK && (hlen > size || hoff + hlen > size))
        st = pl_err(PL_ERR_INVALID, "%s: .npy header is truncated", path);
    pl_dtype dtype = PL_DT_UNDEFINED;
    int rank = 0;
    int64_t dims[PL_MAX_RANK];
    if (st == PL_OK) {
        char *h = malloc(hlen + 1);
        if (!h) st = pl_err(PL_ERR_NOMEM, "out of memory");
        else {
            memcpy(h, b + hoff, hlen);
            h[hlen] = 0;
            st = parse_header(path, h, &dtype, &rank, dims);
            free(h);
        }
    }
    pl_tensor *t = NULL;
    if (st == PL_OK) {
        int64_t numel, nbytes;
        if (!pl_dims_numel(rank, dims, &numel) || !pl_mul_size(numel, (int64_t)pl_dtype_size(dtype), &nbytes))
            st = pl_err(PL_ERR_INVALID, "%s: .npy shape overflows", path);
        else if ((uint64_t)nbytes != size - hoff - hlen)
            st = pl_err(PL_ERR_INVALID, "%s: .npy data holds %zu bytes, shape needs %lld", path,
                        size - hoff - hlen, (long long)nbytes);
        else
            st = pl_tensor_alloc(dtype, rank, dims, &t);
        if (st == PL_OK && nbytes) memcpy(t->data, b + hoff + hlen, (size_t)nbytes);
    }
    free(buf);
    if (st == PL_OK) *out = t;
    return st;
}

pl_status pl_tensor_save_npy(const pl_tensor *t, const char *path) {
    if (t->kind != PL_KIND_TENSOR)
        return pl_err(PL_ERR_UNSUPPORTED, "%s: only plain tensors can be written as .npy", path);
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dtype == t->dtype) descr = npy_types[i].descr;
    if (!descr)
        return pl_err(PL_ERR_UNSUPPORTED, "%s: %s tensors cannot be written as .npy", path,
                      pl_dtype_name(t->dtype));
    char shape[512] = "";
    size_t used = 0;
    for (int i = 0; i < t->rank; i++)
        used += (size_t)snprintf(shape + used, sizeof shape - used, "%lld,%s", (long long)t->dims[i],
                                 (i + 1 < t->rank) ? " " : "");
    if (t->rank > 1 && used) shape[used - 1] = 0; /* "(2, 3)" not "(2, 3,)" */
    char header[640];
    int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                     descr, shape);
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) return pl_err(PL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    uint16_t hl = (uint16_t)(n + pad + 1);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff),
                             (unsigned char)(hl >> 8)};
    fwrite(pre, 1, 10, f);
    fwrite(header, 1, (size_t)n, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    size_t wrote = t->nbytes ? fwrite(t->data, 1, t->nbytes, f) : 0;
    if (fclose(f) != 0 || wrote != t->nbytes) return pl_err(PL_ERR_IO, "%s: write failed", path);
    return PL_OK;
}
