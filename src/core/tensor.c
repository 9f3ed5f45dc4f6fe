/* tensor.c - dense tensors, sequences and optionals. */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool pl_dims_numel(int rank, const int64_t *dims, int64_t *out) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        if (!pl_mul_size(n, dims[i], &n)) return false;
    *out = n;
    return true;
}

const char *pl_dims_str(int rank, const int64_t *dims, char *buf, size_t size) {
    size_t used = 0;
    used += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ",%lld" : "%lld", (long long)dims[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}

/* The most bytes one tensor may take: PL_MAX_TENSOR_BYTES, else the machine's physical memory,
 * so a hostile shape is refused with a message instead of being killed by the OOM killer. */
static int64_t tensor_byte_limit(void) {
    static _Atomic int64_t limit = 0;
    int64_t l = limit;
    if (l > 0) return l;
    const char *env = getenv("PL_MAX_TENSOR_BYTES");
    if (env && env[0]) l = strtoll(env, NULL, 10);
    if (l <= 0) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        l = pages > 0 && page > 0 ? (int64_t)pages * page : INT64_MAX;
    }
    limit = l;
    return l;
}

/* zero: -1 = no data (a view), 0 = malloc, 1 = calloc */
static pl_status tensor_new(pl_dtype dtype, int rank, const int64_t *dims, int zero,
                            pl_tensor **out) {
    *out = NULL;
    if (rank < 0 || rank > PL_MAX_RANK)
        return pl_err(PL_ERR_INVALID, "tensor rank %d is outside 0..%d", rank, PL_MAX_RANK);
    if (!pl_dtype_valid((int)dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "tensor element type %d (%s) is not supported",
                      (int)dtype, pl_dtype_name(dtype));
    int64_t numel;
    if (!pl_dims_numel(rank, dims, &numel)) {
        char buf[256];
        return pl_err(PL_ERR_INVALID, "tensor dims %s are negative or their product overflows",
                      pl_dims_str(rank, dims, buf, sizeof buf));
    }
    size_t esize = dtype == PL_DT_STRING ? sizeof(char *) : pl_dtype_size(dtype);
    int64_t nbytes;
    if (!pl_mul_size(numel, (int64_t)esize, &nbytes) || (uint64_t)nbytes > (uint64_t)SIZE_MAX / 2)
        return pl_err(PL_ERR_NOMEM, "tensor of %lld elements is too large", (long long)numel);
    if (nbytes > tensor_byte_limit()) {
        char buf[256];
        return pl_err(PL_ERR_NOMEM, "a %s tensor of dims %s needs %lld bytes, more than the limit of %lld (physical memory, or PL_MAX_TENSOR_BYTES)",
                      pl_dtype_name(dtype), pl_dims_str(rank, dims, buf, sizeof buf), (long long)nbytes,
                      (long long)tensor_byte_limit());
    }
    pl_tensor *t = calloc(1, sizeof *t);
    if (!t) return pl_err(PL_ERR_NOMEM, "out of memory");
    t->kind = PL_KIND_TENSOR;
    t->dtype = dtype;
    t->rank = rank;
    if (rank) memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
    t->numel = numel;
    t->nbytes = (size_t)nbytes;
    if (zero < 0) {
        *out = t;
        return PL_OK;
    }
    size_t alloc = nbytes ? (size_t)nbytes : 1;
    t->data = (zero || dtype == PL_DT_STRING) ? calloc(1, alloc) : malloc(alloc);
    if (!t->data) {
        free(t);
        return pl_err(PL_ERR_NOMEM, "cannot allocate %lld bytes for a tensor", (long long)nbytes);
    }
    t->owns_data = true;
    *out = t;
    return PL_OK;
}

pl_status pl_tensor_create(pl_dtype dtype, int rank, const int64_t *dims, pl_tensor **out) {
    return tensor_new(dtype, rank, dims, 1, out);
}

pl_status pl_tensor_alloc(pl_dtype dtype, int rank, const int64_t *dims, pl_tensor **out) {
    return tensor_new(dtype, rank, dims, 0, out);
}

pl_status pl_tensor_view(pl_dtype dtype, int rank, const int64_t *dims, void *data,
                         pl_tensor **out) {
    PL_TRY(tensor_new(dtype, rank, dims, -1, out));
    (*out)->data = data;
    (*out)->owns_data = false;
    return PL_OK;
}

pl_status pl_tensor_none(pl_tensor **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return pl_err(PL_ERR_NOMEM, "out of memory");
    (*out)->kind = PL_KIND_NONE;
    return PL_OK;
}

pl_status pl_tensor_seq_create(int count, pl_tensor **items, pl_tensor **out) {
    *out = NULL;
    pl_tensor *t = calloc(1, sizeof *t);
    if (!t) return pl_err(PL_ERR_NOMEM, "out of memory");
    t->kind = PL_KIND_SEQUENCE;
    t->seq_len = count;
    t->seq = calloc(count > 0 ? (size_t)count : 1, sizeof *t->seq);
    if (!t->seq) {
        free(t);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < count; i++) t->seq[i] = items[i];
    if (count > 0) t->seq_elem_dtype = items[0]->dtype;
    *out = t;
    return PL_OK;
}

void pl_tensor_destroy(pl_tensor *t) {
    if (!t) return;
    if (t->kind == PL_KIND_SEQUENCE) {
        for (int i = 0; i < t->seq_len; i++) pl_tensor_destroy(t->seq[i]);
        free(t->seq);
    }
    if (t->owns_data && t->data) {
        if (t->dtype == PL_DT_STRING) {
            char **s = t->data;
            for (int64_t i = 0; i < t->numel; i++) free(s[i]);
        }
        free(t->data);
    }
    free(t);
}

pl_status pl_tensor_clone(const pl_tensor *src, pl_tensor **out) {
    *out = NULL;
    if (src->kind == PL_KIND_NONE) return pl_tensor_none(out);
    if (src->kind == PL_KIND_SEQUENCE) {
        pl_tensor *seq;
        PL_TRY(pl_tensor_seq_create(0, NULL, &seq));
        pl_tensor **items = calloc(src->seq_len > 0 ? (size_t)src->seq_len : 1, sizeof *items);
        if (!items) {
            pl_tensor_destroy(seq);
            return pl_err(PL_ERR_NOMEM, "out of memory");
        }
        free(seq->seq);
        seq->seq = items;
        seq->seq_elem_dtype = src->seq_elem_dtype;
        for (int i = 0; i < src->seq_len; i++) {
            pl_status st = pl_tensor_clone(src->seq[i], &items[i]);
            if (st != PL_OK) {
                pl_tensor_destroy(seq);
                return st;
            }
            seq->seq_len = i + 1;
        }
        *out = seq;
        return PL_OK;
    }
    pl_tensor *t;
    PL_TRY(pl_tensor_alloc(src->dtype, src->rank, src->dims, &t));
    if (src->dtype == PL_DT_STRING) {
        char **d = t->data;
        char *const *s = src->data;
        memset(d, 0, src->nbytes);
        for (int64_t i = 0; i < src->numel; i++) {
            d[i] = pl_strdup(s[i]);
            if (!d[i]) {
                pl_tensor_destroy(t);
                return pl_err(PL_ERR_NOMEM, "out of memory");
            }
        }
    } else if (src->nbytes) {
        memcpy(t->data, src->data, src->nbytes);
    }
    *out = t;
    return PL_OK;
}

pl_dtype pl_tensor_dtype(const pl_tensor *t) { return t->dtype; }
int pl_tensor_rank(const pl_tensor *t) { return t->rank; }
const int64_t *pl_tensor_dims(const pl_tensor *t) { return t->dims; }
int64_t pl_tensor_numel(const pl_tensor *t) { return t->numel; }
size_t pl_tensor_nbytes(const pl_tensor *t) { return t->nbytes; }
void *pl_tensor_data(pl_tensor *t) { return t->data; }
int pl_tensor_seq_length(const pl_tensor *t) {
    return t->kind == PL_KIND_SEQUENCE ? t->seq_len : -1;
}
pl_tensor *pl_tensor_seq_at(pl_tensor *t, int i) {
    if (t->kind != PL_KIND_SEQUENCE || i < 0 || i >= t->seq_len) return NULL;
    return t->seq[i];
}
int pl_tensor_is_none(const pl_tensor *t) { return t->kind == PL_KIND_NONE; }
