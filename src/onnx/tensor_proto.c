/* tensor_proto.c - ONNX TensorProto reading (raw, typed and external data) and writing. */
#include "onnx.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Resolve external data `location` under base_dir, refusing paths that leave it. */
static pl_status external_path(const char *base_dir, const char *location, const char *what,
                               char *out, size_t size) {
    if (!location || !location[0])
        return pl_err(PL_ERR_INVALID, "%s: external data has no 'location'", what);
    if (location[0] == '/' || strstr(location, "..") == location ||
        strstr(location, "/../") || strstr(location, "\\"))
        return pl_err(PL_ERR_INVALID, "%s: external data location '%s' leaves the model's folder",
                      what, location);
    size_t n = strlen(location);
    if (n >= 3 && !strcmp(location + n - 3, "/.."))
        return pl_err(PL_ERR_INVALID, "%s: external data location '%s' leaves the model's folder",
                      what, location);
    snprintf(out, size, "%s/%s", base_dir && base_dir[0] ? base_dir : ".", location);
    char real_base[PATH_MAX], real_file[PATH_MAX];
    if (!realpath(base_dir && base_dir[0] ? base_dir : ".", real_base))
        return pl_err(PL_ERR_IO, "%s: model folder '%s' cannot be resolved", what, base_dir);
    if (!realpath(out, real_file))
        return pl_err(PL_ERR_IO, "%s: external data file '%s' cannot be opened: %s", what, out,
                      strerror(errno));
    size_t bl = strlen(real_base);
    if (strncmp(real_file, real_base, bl) != 0 || (real_file[bl] != '/' && real_file[bl] != 0))
        return pl_err(PL_ERR_INVALID, "%s: external data location '%s' leaves the model's folder",
                      what, location);
    return PL_OK;
}

static pl_status read_external(const Onnx__TensorProto *tp, const char *base_dir,
                               const char *what, int64_t expected, void *dst) {
    const char *location = NULL;
    int64_t offset = 0, length = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const char *k = tp->external_data[i]->key, *v = tp->external_data[i]->value;
        if (!k || !v) continue;
        char *end;
        if (!strcmp(k, "location")) location = v;
        else if (!strcmp(k, "offset") || !strcmp(k, "length")) {
            errno = 0;
            long long x = strtoll(v, &end, 10);
            if (errno || *end || x < 0)
                return pl_err(PL_ERR_INVALID, "%s: external data %s '%s' is not a byte count",
                              what, k, v);
            if (!strcmp(k, "offset")) offset = x;
            else length = x;
        }
    }
    char path[PATH_MAX + 64];
    PL_TRY(external_path(base_dir, location, what, path, sizeof path));
    if (length >= 0 && length != expected)
        return pl_err(PL_ERR_INVALID, "%s: external data length %lld does not match the %lld bytes of its shape",
                      what, (long long)length, (long long)expected);
    FILE *f = fopen(path, "rb");
    if (!f) return pl_err(PL_ERR_IO, "%s: cannot open external data '%s': %s", what, path, strerror(errno));
    pl_status st = PL_OK;
    if (fseek(f, 0, SEEK_END) != 0) st = pl_err(PL_ERR_IO, "%s: cannot seek in '%s'", what, path);
    long fsize = st == PL_OK ? ftell(f) : -1;
    if (st == PL_OK && (fsize < 0 || offset > fsize || expected > fsize - offset))
        st = pl_err(PL_ERR_INVALID, "%s: external data '%s' holds %ld bytes, needs %lld at offset %lld",
                    what, path, fsize, (long long)expected, (long long)offset);
    if (st == PL_OK && fseek(f, (long)offset, SEEK_SET) != 0)
        st = pl_err(PL_ERR_IO, "%s: cannot seek in '%s'", what, path);
    if (st == PL_OK && expected > 0 && fread(dst, 1, (size_t)expected, f) != (size_t)expected)
        st = pl_err(PL_ERR_IO, "%s: short read from '%s'", what, path);
    fclose(f);
    return st;
}

static pl_status typed_count(const Onnx__TensorProto *tp, pl_dtype dt, size_t *count) {
    switch (dt) {
    case PL_DT_FLOAT: *count = tp->n_float_data; break;
    case PL_DT_INT32:
    case PL_DT_INT16:
    case PL_DT_INT8:
    case PL_DT_UINT16:
    case PL_DT_UINT8:
    case PL_DT_BOOL:
    case PL_DT_FLOAT16:
    case PL_DT_BFLOAT16: *count = tp->n_int32_data; break;
    case PL_DT_STRING: *count = tp->n_string_data; break;
    case PL_DT_INT64: *count = tp->n_int64_data; break;
    case PL_DT_DOUBLE: *count = tp->n_double_data; break;
    case PL_DT_UINT32:
    case PL_DT_UINT64: *count = tp->n_uint64_data; break;
    default: return pl_err(PL_ERR_UNSUPPORTED, "tensor type %d is not supported", (int)dt);
    }
    return PL_OK;
}

pl_status pl_tensor_from_proto(const Onnx__TensorProto *tp, const char *base_dir,
                               const char *what, pl_tensor **out) {
    *out = NULL;
    int dt = tp->has_data_type ? tp->data_type : 0;
    if (dt == PL_DT_COMPLEX64 || dt == PL_DT_COMPLEX128)
        return pl_err(PL_ERR_UNSUPPORTED, "%s: complex tensors are not supported", what);
    if (!pl_dtype_valid(dt))
        return pl_err(PL_ERR_INVALID, "%s: data_type %d is not a valid ONNX element type", what, dt);
    if (tp->n_dims > PL_MAX_RANK)
        return pl_err(PL_ERR_INVALID, "%s: rank %zu exceeds the maximum %d", what, tp->n_dims,
                      PL_MAX_RANK);
    if (tp->segment)
        return pl_err(PL_ERR_UNSUPPORTED, "%s: segmented tensors are not supported", what);
    int rank = (int)tp->n_dims;
    int64_t numel;
    if (!pl_dims_numel(rank, tp->dims, &numel)) {
        char buf[256];
        return pl_err(PL_ERR_INVALID, "%s: dims %s are negative or their product overflows", what,
                      pl_dims_str(rank, tp->dims, buf, sizeof buf));
    }
    pl_dtype dtype = (pl_dtype)dt;
    size_t esize = pl_dtype_size(dtype);
    int64_t nbytes = 0;
    if (dtype != PL_DT_STRING && !pl_mul_size(numel, (int64_t)esize, &nbytes))
        return pl_err(PL_ERR_INVALID, "%s: byte size overflows", what);
    bool external = tp->has_data_location &&
                    tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    size_t count = 0;
    PL_TRY(typed_count(tp, dtype, &count));
    if (!external && dtype != PL_DT_STRING) {
        if (tp->has_raw_data && tp->raw_data.len > 0) {
            if ((int64_t)tp->raw_data.len != nbytes)
                return pl_err(PL_ERR_INVALID, "%s: raw_data holds %zu bytes, shape needs %lld", what,
                              tp->raw_data.len, (long long)nbytes);
        } else if ((int64_t)count != numel) {
            return pl_err(PL_ERR_INVALID, "%s: holds %zu values, shape needs %lld", what, count,
                          (long long)numel);
        }
    }
    if (dtype == PL_DT_STRING && (int64_t)count != numel)
        return pl_err(PL_ERR_INVALID, "%s: holds %zu strings, shape needs %lld", what, count,
                      (long long)numel);
    pl_tensor *t;
    PL_TRY(pl_tensor_alloc(dtype, rank, tp->dims, &t));
    pl_status st = PL_OK;
    if (dtype == PL_DT_STRING) {
        char **s = t->data;
        memset(s, 0, t->nbytes);
        for (int64_t i = 0; i < numel && st == PL_OK; i++) {
            s[i] = malloc(tp->string_data[i].len + 1);
            if (!s[i]) st = pl_err(PL_ERR_NOMEM, "out of memory");
            else {
                if (tp->string_data[i].len) memcpy(s[i], tp->string_data[i].data, tp->string_data[i].len);
                s[i][tp->string_data[i].len] = 0;
            }
        }
    } else if (external) {
        st = read_external(tp, base_dir, what, nbytes, t->data);
    } else if (tp->has_raw_data && tp->raw_data.len > 0) {
        memcpy(t->data, tp->raw_data.data, (size_t)nbytes);
    } else {
        for (int64_t i = 0; i < numel; i++) {
            switch (dtype) {
            case PL_DT_FLOAT: ((float *)t->data)[i] = tp->float_data[i]; break;
            case PL_DT_DOUBLE: ((double *)t->data)[i] = tp->double_data[i]; break;
            case PL_DT_INT64: ((int64_t *)t->data)[i] = tp->int64_data[i]; break;
            case PL_DT_UINT64: ((uint64_t *)t->data)[i] = tp->uint64_data[i]; break;
            case PL_DT_UINT32: ((uint32_t *)t->data)[i] = (uint32_t)tp->uint64_data[i]; break;
            case PL_DT_FLOAT16:
            case PL_DT_BFLOAT16:
            case PL_DT_UINT16: ((uint16_t *)t->data)[i] = (uint16_t)tp->int32_data[i]; break;
            default: pl_set_i64(t, i, tp->int32_data[i]); break;
            }
        }
    }
    if (st != PL_OK) {
        pl_tensor_destroy(t);
        return st;
    }
    *out = t;
    return PL_OK;
}

pl_status pl_tensor_load_pb(const char *path, pl_tensor **out) {
    *out = NULL;
    void *buf;
    size_t size;
    PL_TRY(pl_read_file(path, &buf, &size));
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, size, buf);
    free(buf);
    if (!tp) return pl_err(PL_ERR_INVALID, "%s: not a valid ONNX TensorProto (protobuf parse failed)", path);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    pl_status st = pl_tensor_from_proto(tp, dir, path, out);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return st;
}

pl_status pl_tensor_save_pb(const pl_tensor *t, const char *name, const char *path) {
    if (t->kind != PL_KIND_TENSOR)
        return pl_err(PL_ERR_UNSUPPORTED, "%s: only plain tensors can be written as TensorProto", path);
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    tp.n_dims = (size_t)t->rank;
    tp.dims = (int64_t *)t->dims;
    tp.has_data_type = 1;
    tp.data_type = (int32_t)t->dtype;
    tp.name = (char *)(name ? name : "");
    ProtobufCBinaryData *strs = NULL;
    if (t->dtype == PL_DT_STRING) {
        strs = calloc((size_t)(t->numel ? t->numel : 1), sizeof *strs);
        if (!strs) return pl_err(PL_ERR_NOMEM, "out of memory");
        char *const *s = t->data;
        for (int64_t i = 0; i < t->numel; i++) {
            strs[i].data = (uint8_t *)(s[i] ? s[i] : "");
            strs[i].len = strlen((const char *)strs[i].data);
        }
        tp.n_string_data = (size_t)t->numel;
        tp.string_data = strs;
    } else {
        tp.has_raw_data = 1;
        tp.raw_data.data = t->data;
        tp.raw_data.len = t->nbytes;
    }
    size_t len = onnx__tensor_proto__get_packed_size(&tp);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        free(strs);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    onnx__tensor_proto__pack(&tp, buf);
    free(strs);
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(buf);
        return pl_err(PL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    size_t wrote = fwrite(buf, 1, len, f);
    free(buf);
    if (fclose(f) != 0 || wrote != len) return pl_err(PL_ERR_IO, "%s: write failed", path);
    return PL_OK;
}
