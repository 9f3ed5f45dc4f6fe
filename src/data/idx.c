/* idx.c - IDX (MNIST-format) files, gzip-compressed or plain, through zlib. */
#include "data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

const char *pl_fashion_mnist_dir(void) {
    const char *d = getenv("PL_FASHION_MNIST_DIR");
    return d && d[0] ? d : "/usr/share/datasets/fashion-mnist";
}

/* Reads exactly n bytes; false on a short read. */
static bool read_exact(gzFile f, void *buf, size_t n) {
    uint8_t *p = buf;
    while (n > 0) {
        unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
        int got = gzread(f, p, chunk);
        if (got <= 0) return false;
        p += got;
        n -= (size_t)got;
    }
    return true;
}

static uint32_t be32(const uint8_t *b) {
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static void swap_bytes(uint8_t *p, size_t esize, int64_t n) {
    for (int64_t i = 0; i < n; i++, p += esize)
        for (size_t a = 0, b = esize - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

pl_status pl_idx_load(const char *path, pl_tensor **out) {
    *out = NULL;
    gzFile f = gzopen(path, "rb"); /* reads plain files transparently */
    if (!f) return pl_err(PL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t head[4];
    pl_status st = PL_OK;
    pl_dtype dtype = PL_DT_UNDEFINED;
    int rank = 0;
    int64_t dims[PL_MAX_RANK];
    if (!read_exact(f, head, 4) || head[0] != 0 || head[1] != 0) {
        st = pl_err(PL_ERR_INVALID, "%s: not an IDX file (bad magic)", path);
    } else {
        switch (head[2]) {
        case 0x08: dtype = PL_DT_UINT8; break;
        case 0x09: dtype = PL_DT_INT8; break;
        case 0x0B: dtype = PL_DT_INT16; break;
        case 0x0C: dtype = PL_DT_INT32; break;
        case 0x0D: dtype = PL_DT_FLOAT; break;
        case 0x0E: dtype = PL_DT_DOUBLE; break;
        default: st = pl_err(PL_ERR_INVALID, "%s: IDX element type 0x%02x is unknown", path, head[2]);
        }
        rank = head[3];
        if (st == PL_OK && (rank < 1 || rank > PL_MAX_RANK))
            st = pl_err(PL_ERR_INVALID, "%s: IDX rank %d is outside 1..%d", path, rank, PL_MAX_RANK);
    }
    for (int d = 0; st == PL_OK && d < rank; d++) {
        uint8_t b[4];
        if (!read_exact(f, b, 4)) st = pl_err(PL_ERR_INVALID, "%s: truncated IDX header", path);
        else dims[d] = be32(b);
    }
    pl_tensor *t = NULL;
    if (st == PL_OK) st = pl_tensor_alloc(dtype, rank, dims, &t);
    if (st == PL_OK && t->nbytes && !read_exact(f, t->data, t->nbytes))
        st = pl_err(PL_ERR_INVALID, "%s: truncated IDX body (needs %zu bytes for its dims)", path, t->nbytes);
    gzclose(f);
    if (st != PL_OK) {
        pl_tensor_destroy(t);
        return st;
    }
    if (pl_dtype_size(dtype) > 1) swap_bytes(t->data, pl_dtype_size(dtype), t->numel); /* big-endian */
    *out = t;
    return PL_OK;
}

pl_status pl_dataset_open_idx(pl_dataset *ds, const char *images, const char *labels,
                              const pl_norm_sources *norm) {
    pl_tensor *img = NULL, *lab = NULL;
    PL_TRY(pl_idx_load(images, &img));
    pl_status st = pl_idx_load(labels, &lab);
    if (st != PL_OK) {
        pl_tensor_destroy(img);
        return st;
    }
    st = pl_dataset_set_raw(ds, img, lab, "IDX", images, labels, norm);
    pl_tensor_destroy(lab);
    return st;
}
