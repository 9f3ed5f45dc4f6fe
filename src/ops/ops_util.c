/* ops_util.c - helpers shared by the reference kernels: outputs, broadcasting, axes. */
#include "ops.h"

#include <stdlib.h>
#include <string.h>

pl_status pl_out(pl_kernel_ctx *ctx, int i, pl_dtype dtype, int rank, const int64_t *dims,
                 pl_tensor **t) {
    *t = NULL;
    if (i < 0 || i >= ctx->n_out) return pl_err(PL_ERR_INTERNAL, "output %d out of range", i);
    pl_tensor *n;
    if (ctx->out_mem && ctx->out_mem[i] && dtype != PL_DT_STRING) {
        PL_TRY(pl_tensor_view(dtype, rank, dims, NULL, &n));
        if (n->nbytes <= ctx->out_cap[i]) {
            n->data = ctx->out_mem[i];
            memset(n->data, 0, n->nbytes);
        } else {
            pl_tensor_destroy(n);
            PL_TRY(pl_tensor_create(dtype, rank, dims, &n));
        }
    } else {
        PL_TRY(pl_tensor_create(dtype, rank, dims, &n));
    }
    pl_tensor_destroy(ctx->out[i]);
    ctx->out[i] = n;
    *t = n;
    return PL_OK;
}

void pl_out_set(pl_kernel_ctx *ctx, int i, pl_tensor *t) {
    if (i < 0 || i >= ctx->n_out) {
        pl_tensor_destroy(t);
        return;
    }
    pl_tensor_destroy(ctx->out[i]);
    ctx->out[i] = t;
}

pl_status pl_op_check_arity(const pl_op_schema *s, int n_in, const int *in, int n_out) {
    int present = n_in;
    while (present > 0 && in[present - 1] < 0) present--;
    if (present < s->min_in || (s->max_in >= 0 && present > s->max_in))
        return pl_err(PL_ERR_INVALID, "has %d inputs, the op takes %d to %d", n_in, s->min_in, s->max_in);
    if (n_out < s->min_out || (s->max_out >= 0 && n_out > s->max_out))
        return pl_err(PL_ERR_INVALID, "has %d outputs, the op gives %d to %d", n_out, s->min_out, s->max_out);
    return PL_OK;
}

const pl_tensor *pl_in(const pl_kernel_ctx *ctx, int i) {
    if (i < 0 || i >= ctx->n_in) return NULL;
    return ctx->in[i];
}

pl_status pl_in_req(const pl_kernel_ctx *ctx, int i, const pl_tensor **t) {
    *t = pl_in(ctx, i);
    if (!*t) return pl_err(PL_ERR_INVALID, "input %d is required but missing", i);
    if ((*t)->kind != PL_KIND_TENSOR)
        return pl_err(PL_ERR_INVALID, "input %d must be a tensor, not a %s", i,
                      (*t)->kind == PL_KIND_SEQUENCE ? "sequence" : "empty optional");
    return PL_OK;
}

pl_status pl_broadcast(int ra, const int64_t *da, int rb, const int64_t *db, int *rank,
                       int64_t *dims) {
    int r = ra > rb ? ra : rb;
    for (int i = 0; i < r; i++) {
        int64_t a = i - (r - ra) >= 0 ? da[i - (r - ra)] : 1;
        int64_t b = i - (r - rb) >= 0 ? db[i - (r - rb)] : 1;
        if (a == b || b == 1) dims[i] = a;
        else if (a == 1) dims[i] = b;
        else {
            char sa[256], sb[256];
            return pl_err(PL_ERR_INVALID, "shapes %s and %s cannot be broadcast",
                          pl_dims_str(ra, da, sa, sizeof sa), pl_dims_str(rb, db, sb, sizeof sb));
        }
    }
    *rank = r;
    return PL_OK;
}

void pl_strides(int rank, const int64_t *dims, int64_t *strides) {
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

void pl_broadcast_strides(const pl_tensor *src, int rank, const int64_t *dims,
                          int64_t *strides) {
    int64_t own[PL_MAX_RANK];
    pl_strides(src->rank, src->dims, own);
    for (int i = 0; i < rank; i++) {
        int j = i - (rank - src->rank);
        strides[i] = (j >= 0 && src->dims[j] == dims[i] && dims[i] != 1) ? own[j] : 0;
    }
}

pl_status pl_axis(int64_t axis, int rank, const char *what, int *out) {
    if (axis < -rank || axis >= (rank > 0 ? rank : 1))
        return pl_err(PL_ERR_INVALID, "%s %lld is out of range for rank %d", what,
                      (long long)axis, rank);
    if (axis < 0) axis += rank;
    *out = (int)axis;
    return PL_OK;
}

pl_status pl_as_float(const pl_tensor *t, pl_tensor **out) {
    if (t->dtype == PL_DT_FLOAT) return pl_tensor_clone(t, out);
    return pl_tensor_cast(t, PL_DT_FLOAT, out);
}

pl_status pl_as_int64s(const pl_tensor *t, const char *what, int64_t **out, int64_t *count) {
    *out = NULL;
    *count = 0;
    if (!pl_dtype_is_int(t->dtype))
        return pl_err(PL_ERR_INVALID, "%s must be an integer tensor, not %s", what,
                      pl_dtype_name(t->dtype));
    if (t->rank > 1)
        return pl_err(PL_ERR_INVALID, "%s must be 1-D, has rank %d", what, t->rank);
    int64_t *v = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *v);
    if (!v) return pl_err(PL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < t->numel; i++) v[i] = pl_get_i64(t, i);
    *out = v;
    *count = t->numel;
    return PL_OK;
}

pl_status pl_copy_elems(pl_tensor *dst, int64_t dof, const pl_tensor *src, int64_t so,
                        int64_t count) {
    if (count <= 0) return PL_OK;
    if (src->dtype == PL_DT_STRING) {
        char **d = dst->data;
        char *const *s = src->data;
        for (int64_t i = 0; i < count; i++) {
            free(d[dof + i]);
            d[dof + i] = pl_strdup(s[so + i] ? s[so + i] : "");
            if (!d[dof + i]) return pl_err(PL_ERR_NOMEM, "out of memory");
        }
        return PL_OK;
    }
    size_t es = pl_dtype_size(src->dtype);
    memcpy((char *)dst->data + (size_t)dof * es, (const char *)src->data + (size_t)so * es,
           (size_t)count * es);
    return PL_OK;
}
