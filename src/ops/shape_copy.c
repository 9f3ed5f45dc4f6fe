/* shape_copy.c - data-movement kernels of the shape family: Transpose, Concat, Split, Slice,
 * Expand, Tile, Pad, DepthToSpace, SpaceToDepth. They all reduce to one strided copy
 * (copy_strided) that merges contiguous dimensions, copies contiguous runs with memcpy,
 * transposes in cache blocks, and deep-copies strings. The schema table is in shape.c. */
#include "shape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VIEW (2 * PL_MAX_RANK)
#define BLOCK 32


/* ---- the strided copy ---- */

/* dst[doff + sum idx_i*ds_i] = src[soff + sum idx_i*ss_i] for every idx below dims. */
typedef struct copy_plan {
    int rank;
    int64_t dims[MAX_VIEW];
    int64_t ss[MAX_VIEW]; /* source strides in elements (may be 0 or negative) */
    int64_t ds[MAX_VIEW]; /* destination strides in elements */
} copy_plan;

/* Drops unit dims and merges neighbours that are contiguous in both tensors. Returns false
 * when the region is empty. */
static bool plan_simplify(copy_plan *p) {
    int r = 0;
    for (int i = 0; i < p->rank; i++) {
        if (p->dims[i] == 0) return false;
        if (p->dims[i] == 1) continue;
        if (r > 0 && p->ss[r - 1] == p->ss[i] * p->dims[i] &&
            p->ds[r - 1] == p->ds[i] * p->dims[i]) {
            p->dims[r - 1] *= p->dims[i];
            p->ss[r - 1] = p->ss[i];
            p->ds[r - 1] = p->ds[i];
            continue;
        }
        p->dims[r] = p->dims[i];
        p->ss[r] = p->ss[i];
        p->ds[r] = p->ds[i];
        r++;
    }
    p->rank = r;
    return true;
}

/* Copies n elements of size es with element steps; memcpy when both are contiguous. */
static void copy_run(char *d, int64_t dstep, const char *s, int64_t sstep, int64_t n, size_t es) {
    if (dstep == 1 && sstep == 1) {
        memcpy(d, s, (size_t)n * es);
        return;
    }
    int64_t db = dstep * (int64_t)es, sb = sstep * (int64_t)es;
    switch (es) {
    case 1:
        for (int64_t i = 0; i < n; i++) d[i * db] = s[i * sb];
        break;
    case 2:
        for (int64_t i = 0; i < n; i++) memcpy(d + i * db, s + i * sb, 2);
        break;
    case 4:
        for (int64_t i = 0; i < n; i++) memcpy(d + i * db, s + i * sb, 4);
        break;
    case 8:
        for (int64_t i = 0; i < n; i++) memcpy(d + i * db, s + i * sb, 8);
        break;
    default:
        for (int64_t i = 0; i < n; i++) memcpy(d + i * db, s + i * sb, es);
        break;
    }
}

/* String version of copy_run: deep copies, freeing what the destination held. */
static pl_status copy_run_str(char **d, int64_t dstep, char *const *s, int64_t sstep, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        char *c = pl_strdup(s[i * sstep]);
        if (!c) return pl_err(PL_ERR_NOMEM, "out of memory copying strings");
        free(d[i * dstep]);
        d[i * dstep] = c;
    }
    return PL_OK;
}

/* Blocked 2-D transpose: na x nb elements, source contiguous along a, destination along b. */
static void copy_block2d(char *d, int64_t dsa, const char *s, int64_t ssb, int64_t na,
                         int64_t nb, size_t es) {
    for (int64_t a0 = 0; a0 < na; a0 += BLOCK) {
        int64_t a1 = a0 + BLOCK < na ? a0 + BLOCK : na;
        for (int64_t b0 = 0; b0 < nb; b0 += BLOCK) {
            int64_t b1 = b0 + BLOCK < nb ? b0 + BLOCK : nb;
            if (es == 4) {
                for (int64_t a = a0; a < a1; a++)
                    for (int64_t b = b0; b < b1; b++)
                        memcpy(d + (a * dsa + b) * 4, s + (a + b * ssb) * 4, 4);
            } else {
                for (int64_t a = a0; a < a1; a++)
                    for (int64_t b = b0; b < b1; b++)
                        memcpy(d + (a * dsa + b) * (int64_t)es, s + (a + b * ssb) * (int64_t)es,
                               es);
            }
        }
    }
}

/* Runs a plan between the data of dst and src (both of dtype `dt`). The regions must not
 * overlap. Strings are deep-copied. */
static pl_status copy_plan_run(pl_dtype dt, void *dst, int64_t doff, const void *src,
                               int64_t soff, copy_plan *p) {
    if (!plan_simplify(p)) return PL_OK;
    bool str = dt == PL_DT_STRING;
    size_t es = str ? sizeof(char *) : pl_dtype_size(dt);
    if (p->rank == 0) {
        if (str) return copy_run_str((char **)dst + doff, 1, (char *const *)src + soff, 1, 1);
        memcpy((char *)dst + doff * (int64_t)es, (const char *)src + soff * (int64_t)es, es);
        return PL_OK;
    }
    int last = p->rank - 1;
    /* Inner kernel: the last dim, or a blocked 2-D transpose of dim `blk` with the last. */
    int blk = -1;
    if (!str && p->ds[last] == 1 && p->ss[last] != 1)
        for (int i = 0; i < last; i++)
            if (p->ss[i] == 1 && p->dims[i] >= 4 && p->dims[last] >= 4) blk = i;
    int64_t idx[MAX_VIEW] = {0};
    int64_t so = soff, dof = doff;
    for (;;) {
        if (blk >= 0) {
            copy_block2d((char *)dst + dof * (int64_t)es, p->ds[blk],
                         (const char *)src + so * (int64_t)es, p->ss[last], p->dims[blk],
                         p->dims[last], es);
        } else if (str) {
            PL_TRY(copy_run_str((char **)dst + dof, p->ds[last], (char *const *)src + so,
                                p->ss[last], p->dims[last]));
        } else {
            copy_run((char *)dst + dof * (int64_t)es, p->ds[last],
                     (const char *)src + so * (int64_t)es, p->ss[last], p->dims[last], es);
        }
        int i = last - 1;
        for (; i >= 0; i--) {
            if (i == blk) continue;
            idx[i]++;
            so += p->ss[i];
            dof += p->ds[i];
            if (idx[i] < p->dims[i]) break;
            so -= p->ss[i] * p->dims[i];
            dof -= p->ds[i] * p->dims[i];
            idx[i] = 0;
        }
        if (i < 0) break;
    }
    return PL_OK;
}

/* Copies a view of src (offset soff, strides ss, shape dims) into dst at doff with strides ds. */
static pl_status copy_strided(pl_tensor *dst, int64_t doff, const pl_tensor *src, int64_t soff,
                              int rank, const int64_t *dims, const int64_t *ss,
                              const int64_t *ds) {
    copy_plan p = {.rank = rank};
    for (int i = 0; i < rank; i++) {
        p.dims[i] = dims[i];
        p.ss[i] = ss[i];
        p.ds[i] = ds[i];
    }
    return copy_plan_run(dst->dtype, dst->data, doff, src->data, soff, &p);
}

/* Copies a view of src into a freshly allocated row-major dst of shape dims. */
static pl_status copy_view_into(pl_tensor *dst, const pl_tensor *src, int64_t soff, int rank,
                                const int64_t *dims, const int64_t *ss) {
    int64_t ds[MAX_VIEW];
    pl_strides(rank, dims, ds);
    return copy_strided(dst, 0, src, soff, rank, dims, ss, ds);
}

/* Output `i` with uninitialised data (strings start NULL); the kernel fills all of it. */
static pl_status out_alloc(pl_kernel_ctx *ctx, int i, pl_dtype dt, int rank, const int64_t *dims,
                           pl_tensor **t) {
    *t = NULL;
    pl_tensor *n;
    PL_TRY(pl_tensor_alloc(dt, rank, dims, &n));
    pl_out_set(ctx, i, n);
    *t = n;
    return PL_OK;
}

/* Checks that the output shape has a representable element count. */
static pl_status check_numel(int rank, const int64_t *dims, const char *op) {
    int64_t n;
    char buf[256];
    if (!pl_dims_numel(rank, dims, &n))
        return pl_err(PL_ERR_INVALID, "%s output shape %s overflows", op,
                      pl_dims_str(rank, dims, buf, sizeof buf));
    return PL_OK;
}

/* ---- Transpose ---- */

pl_status pl_shape_transpose(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    int r = x->rank, n;
    const int64_t *perm_attr = pl_attr_ints(ctx->node, "perm", &n);
    int perm[PL_MAX_RANK];
    if (perm_attr) {
        if (n != r)
            return pl_err(PL_ERR_INVALID, "attribute perm has %d entries, input rank is %d", n,
                          r);
        bool seen[PL_MAX_RANK] = {false};
        for (int i = 0; i < r; i++) {
            int a;
            PL_TRY(pl_axis(perm_attr[i], r, "perm entry", &a));
            if (seen[a])
                return pl_err(PL_ERR_INVALID, "attribute perm repeats axis %lld",
                              (long long)perm_attr[i]);
            seen[a] = true;
            perm[i] = a;
        }
    } else {
        for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
    }
    int64_t dims[PL_MAX_RANK], ss[PL_MAX_RANK], xs[PL_MAX_RANK];
    pl_strides(r, x->dims, xs);
    for (int i = 0; i < r; i++) {
        dims[i] = x->dims[perm[i]];
        ss[i] = xs[perm[i]];
    }
    pl_tensor *y;
    PL_TRY(out_alloc(ctx, 0, x->dtype, r, dims, &y));
    return copy_view_into(y, x, 0, r, dims, ss);
}

/* ---- Concat ---- */

pl_status pl_shape_concat(pl_kernel_ctx *ctx) {
    if (ctx->n_in < 1) return pl_err(PL_ERR_INVALID, "Concat needs at least one input");
    const pl_tensor *first;
    PL_TRY(pl_in_req(ctx, 0, &first));
    int r = first->rank;
    if (r == 0) return pl_err(PL_ERR_INVALID, "inputs must have rank >= 1, input 0 is a scalar");
    const pl_attr *aa = pl_node_attr(ctx->node, "axis");
    if (!aa && ctx->opset >= 4) return pl_err(PL_ERR_INVALID, "attribute axis is required");
    int axis;
    PL_TRY(pl_axis(aa ? aa->i : 1, r, "attribute axis", &axis));
    int64_t dims[PL_MAX_RANK];
    memcpy(dims, first->dims, sizeof dims);
    dims[axis] = 0;
    for (int k = 0; k < ctx->n_in; k++) {
        const pl_tensor *t;
        PL_TRY(pl_in_req(ctx, k, &t));
        if (t->dtype != first->dtype)
            return pl_err(PL_ERR_INVALID, "input %d is %s, input 0 is %s", k,
                          pl_dtype_name(t->dtype), pl_dtype_name(first->dtype));
        char b0[256], b1[256];
        bool ok = t->rank == r;
        for (int i = 0; ok && i < r; i++) ok = i == axis || t->dims[i] == first->dims[i];
        if (!ok)
            return pl_err(PL_ERR_INVALID, "input %d shape %s does not match input 0 shape %s "
                          "outside axis %d", k, pl_dims_str(t->rank, t->dims, b0, sizeof b0),
                          pl_dims_str(r, first->dims, b1, sizeof b1), axis);
        if (dims[axis] > INT64_MAX - t->dims[axis])
            return pl_err(PL_ERR_INVALID, "concatenated axis size overflows");
        dims[axis] += t->dims[axis];
    }
    PL_TRY(check_numel(r, dims, "Concat"));
    pl_tensor *y;
    PL_TRY(out_alloc(ctx, 0, first->dtype, r, dims, &y));
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= dims[i];
    for (int i = axis + 1; i < r; i++) inner *= dims[i];
    int64_t pos = 0;
    for (int k = 0; k < ctx->n_in; k++) {
        const pl_tensor *t = ctx->in[k];
        int64_t block = t->dims[axis] * inner;
        int64_t vd[2] = {outer, block}, ss[2] = {block, 1}, ds[2] = {dims[axis] * inner, 1};
        PL_TRY(copy_strided(y, pos * inner, t, 0, 2, vd, ss, ds));
        pos += t->dims[axis];
    }
    return PL_OK;
}

/* ---- Split ---- */

/* Sizes of the Split outputs along the axis of length dim, into a malloc'ed array. */
static pl_status split_sizes(pl_kernel_ctx *ctx, int64_t dim, int64_t **sizes) {
    int n = ctx->n_out;
    *sizes = NULL;
    int64_t *sz = calloc((size_t)n, sizeof *sz);
    if (!sz) return pl_err(PL_ERR_NOMEM, "out of memory");
    *sizes = sz;
    int64_t *given = NULL, count = 0;
    const char *what = "input split";
    pl_status st = PL_OK;
    if (ctx->opset >= 13 || (ctx->opset < 2 && pl_in(ctx, 1))) {
        const pl_tensor *s = pl_in(ctx, 1);
        if (s) {
            if (s->kind != PL_KIND_TENSOR) return pl_err(PL_ERR_INVALID, "input split must be a tensor");
            PL_TRY(pl_as_int64s(s, "input split", &given, &count));
        }
    } else {
        int na;
        const int64_t *a = pl_attr_ints(ctx->node, "split", &na);
        what = "attribute split";
        if (a && na > 0) {
            given = malloc((size_t)na * sizeof *given);
            if (!given) return pl_err(PL_ERR_NOMEM, "out of memory");
            memcpy(given, a, (size_t)na * sizeof *given);
            count = na;
        }
    }
    const pl_attr *num = pl_node_attr(ctx->node, "num_outputs");
    if (given) {
        int64_t sum = 0;
        if (num) st = pl_err(PL_ERR_INVALID, "give either input split or num_outputs, not both");
        else if (count != n)
            st = pl_err(PL_ERR_INVALID, "%s has %lld entries for %d outputs", what,
                        (long long)count, n);
        for (int i = 0; st == PL_OK && i < n; i++) {
            if (given[i] < 0 || given[i] > dim)
                st = pl_err(PL_ERR_INVALID, "%s entry %d is %lld, outside 0..%lld", what, i,
                            (long long)given[i], (long long)dim);
            sz[i] = given[i];
            sum += given[i];
        }
        if (st == PL_OK && sum != dim)
            st = pl_err(PL_ERR_INVALID, "%s sums to %lld, the axis has %lld", what,
                        (long long)sum, (long long)dim);
        free(given);
        return st;
    }
    if (num && num->i != n)
        return pl_err(PL_ERR_INVALID, "attribute num_outputs is %lld but the node has %d outputs",
                      (long long)num->i, n);
    if (!num && dim % n != 0)
        return pl_err(PL_ERR_INVALID, "axis of size %lld cannot be split evenly into %d outputs",
                      (long long)dim, n);
    int64_t chunk = (dim + n - 1) / n, left = dim;
    for (int i = 0; i < n; i++) {
        sz[i] = chunk < left ? chunk : left;
        left -= sz[i];
    }
    return PL_OK;
}

pl_status pl_shape_split(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    if (x->rank == 0) return pl_err(PL_ERR_INVALID, "Split input must have rank >= 1");
    int axis;
    PL_TRY(pl_axis(pl_attr_int(ctx->node, "axis", 0), x->rank, "attribute axis", &axis));
    int64_t *sizes = NULL;
    pl_status st = split_sizes(ctx, x->dims[axis], &sizes);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= x->dims[i];
    for (int i = axis + 1; i < x->rank; i++) inner *= x->dims[i];
    int64_t pos = 0;
    for (int k = 0; st == PL_OK && k < ctx->n_out; k++) {
        int64_t dims[PL_MAX_RANK];
        memcpy(dims, x->dims, sizeof dims);
        dims[axis] = sizes[k];
        pl_tensor *y;
        st = out_alloc(ctx, k, x->dtype, x->rank, dims, &y);
        if (st != PL_OK) break;
        int64_t block = sizes[k] * inner;
        int64_t vd[2] = {outer, block}, ss[2] = {x->dims[axis] * inner, 1}, ds[2] = {block, 1};
        st = copy_strided(y, 0, x, pos * inner, 2, vd, ss, ds);
        pos += sizes[k];
    }
    free(sizes);
    return st;
}

/* ---- Slice ---- */

/* The int64 values of an optional 1-D input or attribute; *vals NULL when absent. */
static pl_status slice_arg(pl_kernel_ctx *ctx, int input, const char *name, int64_t **vals,
                           int64_t *count) {
    *vals = NULL;
    *count = 0;
    char what[64];
    if (ctx->opset < 10) {
        int n;
        const int64_t *a = pl_attr_ints(ctx->node, name, &n);
        if (!a) return PL_OK;
        *vals = malloc((size_t)(n ? n : 1) * sizeof **vals);
        if (!*vals) return pl_err(PL_ERR_NOMEM, "out of memory");
        if (n) memcpy(*vals, a, (size_t)n * sizeof **vals);
        *count = n;
        return PL_OK;
    }
    const pl_tensor *t = pl_in(ctx, input);
    if (!t) return PL_OK;
    snprintf(what, sizeof what, "input %s", name);
    if (t->kind != PL_KIND_TENSOR) return pl_err(PL_ERR_INVALID, "%s must be a tensor", what);
    return pl_as_int64s(t, what, vals, count);
}

/* Clamped start and element count of one sliced axis of length dim (ONNX Slice rules). */
static void slice_axis(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first,
                       int64_t *count) {
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    if (step > 0) {
        start = start < 0 ? 0 : start > dim ? dim : start;
        end = end < 0 ? 0 : end > dim ? dim : end;
        *count = end > start ? (end - start - 1) / step + 1 : 0;
    } else {
        start = start < 0 ? 0 : start > dim - 1 ? dim - 1 : start;
        end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
        *count = start > end ? (start - end - 1) / (-step) + 1 : 0;
    }
    if (dim == 0) *count = 0;
    *first = *count ? start : 0;
}

/* Validates the Slice arguments and computes the output dims and the source view. */
static pl_status slice_plan(const pl_tensor *x, const int64_t *starts, const int64_t *ends,
                            const int64_t *axes, const int64_t *steps, int64_t n, int64_t *dims,
                            int64_t *ss, int64_t *soff) {
    int r = x->rank;
    int64_t xs[PL_MAX_RANK];
    pl_strides(r, x->dims, xs);
    bool seen[PL_MAX_RANK] = {false};
    int64_t off = 0;
    for (int i = 0; i < r; i++) {
        dims[i] = x->dims[i];
        ss[i] = xs[i];
    }
    for (int64_t k = 0; k < n; k++) {
        int a;
        PL_TRY(pl_axis(axes ? axes[k] : k, r, "axes entry", &a));
        if (seen[a]) return pl_err(PL_ERR_INVALID, "axes repeat axis %d", a);
        seen[a] = true;
        int64_t step = steps ? steps[k] : 1;
        if (step == 0) return pl_err(PL_ERR_INVALID, "input steps: the step for axis %d is 0", a);
        if (step == INT64_MIN) step = -INT64_MAX;
        int64_t first, count;
        slice_axis(x->dims[a], starts[k], ends[k], step, &first, &count);
        off += first * xs[a];
        dims[a] = count;
        ss[a] = count > 1 ? xs[a] * step : xs[a]; /* count > 1 keeps |step| below the dim */
    }
    *soff = off;
    return PL_OK;
}

pl_status pl_shape_slice(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    int64_t *starts = NULL, *ends = NULL, *axes = NULL, *steps = NULL;
    int64_t ns = 0, ne = 0, na = 0, nst = 0;
    pl_status st = slice_arg(ctx, 1, "starts", &starts, &ns);
    if (st == PL_OK) st = slice_arg(ctx, 2, "ends", &ends, &ne);
    if (st == PL_OK) st = slice_arg(ctx, 3, "axes", &axes, &na);
    if (st == PL_OK && ctx->opset >= 10) st = slice_arg(ctx, 4, "steps", &steps, &nst);
    if (st == PL_OK && (!starts || !ends))
        st = pl_err(PL_ERR_INVALID, "starts and ends are required");
    if (st == PL_OK && ns != ne)
        st = pl_err(PL_ERR_INVALID, "starts has %lld entries, ends has %lld", (long long)ns,
                    (long long)ne);
    if (st == PL_OK && axes && na != ns)
        st = pl_err(PL_ERR_INVALID, "axes has %lld entries, starts has %lld", (long long)na,
                    (long long)ns);
    if (st == PL_OK && steps && nst != ns)
        st = pl_err(PL_ERR_INVALID, "steps has %lld entries, starts has %lld", (long long)nst,
                    (long long)ns);
    if (st == PL_OK && ns > x->rank)
        st = pl_err(PL_ERR_INVALID, "%lld sliced axes for an input of rank %d", (long long)ns,
                    x->rank);
    int64_t dims[PL_MAX_RANK], ss[PL_MAX_RANK], soff = 0;
    if (st == PL_OK) st = slice_plan(x, starts, ends, axes, steps, ns, dims, ss, &soff);
    free(starts);
    free(ends);
    free(axes);
    free(steps);
    PL_TRY(st);
    pl_tensor *y;
    PL_TRY(out_alloc(ctx, 0, x->dtype, x->rank, dims, &y));
    return copy_view_into(y, x, soff, x->rank, dims, ss);
}

/* ---- Expand and Tile ---- */

pl_status pl_shape_expand(pl_kernel_ctx *ctx) {
    const pl_tensor *x, *s;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(pl_in_req(ctx, 1, &s));
    int64_t shape[PL_MAX_RANK], dims[PL_MAX_RANK];
    int n, r = 0;
    PL_TRY(pl_shape_input(s, shape, &n));
    PL_TRY(pl_broadcast(x->rank, x->dims, n, shape, &r, dims));
    PL_TRY(check_numel(r, dims, "Expand"));
    pl_tensor *y;
    PL_TRY(out_alloc(ctx, 0, x->dtype, r, dims, &y));
    int64_t ss[PL_MAX_RANK];
    pl_broadcast_strides(x, r, dims, ss);
    return copy_view_into(y, x, 0, r, dims, ss);
}

pl_status pl_shape_tile(pl_kernel_ctx *ctx) {
    const pl_tensor *x, *rt;
    PL_TRY(pl_in_req(ctx, 0, &x));
    if (ctx->opset < 6) return pl_err(PL_ERR_UNSUPPORTED, "Tile before opset 6 is not supported");
    PL_TRY(pl_in_req(ctx, 1, &rt));
    int64_t *reps, n;
    PL_TRY(pl_as_int64s(rt, "input repeats", &reps, &n));
    pl_status st = PL_OK;
    if (n != x->rank)
        st = pl_err(PL_ERR_INVALID, "input repeats has %lld entries, input rank is %d",
                    (long long)n, x->rank);
    int r = x->rank;
    int64_t dims[PL_MAX_RANK], vd[MAX_VIEW], ss[MAX_VIEW], xs[PL_MAX_RANK];
    pl_strides(r, x->dims, xs);
    for (int i = 0; st == PL_OK && i < r; i++) {
        if (reps[i] < 0)
            st = pl_err(PL_ERR_INVALID, "input repeats entry %d is negative (%lld)", i,
                        (long long)reps[i]);
        else if (!pl_mul_size(x->dims[i], reps[i], &dims[i]))
            st = pl_err(PL_ERR_INVALID, "tiled axis %d overflows", i);
        vd[2 * i] = reps[i];
        vd[2 * i + 1] = x->dims[i];
        ss[2 * i] = 0;
        ss[2 * i + 1] = xs[i];
    }
    free(reps);
    PL_TRY(st);
    PL_TRY(check_numel(r, dims, "Tile"));
    pl_tensor *y;
    PL_TRY(out_alloc(ctx, 0, x->dtype, r, dims, &y));
    return copy_view_into(y, x, 0, 2 * r, vd, ss);
}

/* ---- DepthToSpace and SpaceToDepth ---- */

/* Blocksize attribute and the 4-D input of the two ops. */
static pl_status block_args(pl_kernel_ctx *ctx, const pl_tensor **x, int64_t *b) {
    PL_TRY(pl_in_req(ctx, 0, x));
    if ((*x)->rank != 4)
        return pl_err(PL_ERR_INVALID, "input must be 4-D (N,C,H,W), has rank %d", (*x)->rank);
    const pl_attr *a = pl_node_attr(ctx->node, "blocksize");
    if (!a) return pl_err(PL_ERR_INVALID, "attribute blocksize is required");
    if (a->i <= 0 || a->i > (1 << 20))
        return pl_err(PL_ERR_INVALID, "attribute blocksize %lld must be positive", (long long)a->i);
    *b = a->i;
    return PL_OK;
}

pl_status pl_shape_depth_to_space(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    int64_t b;
    PL_TRY(block_args(ctx, &x, &b));
    const char *mode = pl_attr_string(ctx->node, "mode", "DCR");
    bool crd = strcmp(mode, "CRD") == 0;
    if (!crd && strcmp(mode, "DCR") != 0)
        return pl_err(PL_ERR_INVALID, "attribute mode '%s' must be DCR or CRD", mode);
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (C % (b * b) != 0)
        return pl_err(PL_ERR_INVALID, "channels %lld are not divisible by blocksize^2 = %lld",
                      (long long)C, (long long)(b * b));
    int64_t c = C / (b * b), hb, wb;
    if (!pl_mul_size(H, b, &hb) || !pl_mul_size(W, b, &wb))
        return pl_err(PL_ERR_INVALID, "output height or width overflows");
    int64_t dims[4] = {N, c, hb, wb};
    /* input viewed as DCR [N,b1,b2,c,H,W] or CRD [N,c,b1,b2,H,W] */
    int64_t v6[6], s6[6];
    if (crd) {
        int64_t t[6] = {N, c, b, b, H, W};
        memcpy(v6, t, sizeof t);
    } else {
        int64_t t[6] = {N, b, b, c, H, W};
        memcpy(v6, t, sizeof t);
    }
    pl_strides(6, v6, s6);
    int ib1 = crd ? 2 : 1, ib2 = crd ? 3 : 2, ic = crd ? 1 : 3;
    int64_t vd[6] = {N, c, H, b, W, b};
    int64_t ss[6] = {s6[0], s6[ic], s6[4], s6[ib1], s6[5], s6[ib2]};
    pl_tensor *y;
    PL_TRY(out_alloc(ctx, 0, x->dtype, 4, dims, &y));
    return copy_view_into(y, x, 0, 6, vd, ss);
}

pl_status pl_shape_space_to_depth(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    int64_t b;
    PL_TRY(block_args(ctx, &x, &b));
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (H % b != 0 || W % b != 0)
        return pl_err(PL_ERR_INVALID, "height %lld and width %lld must be divisible by "
                      "blocksize %lld", (long long)H, (long long)W, (long long)b);
    int64_t cbb;
    if (!pl_mul_size(C, b * b, &cbb)) return pl_err(PL_ERR_INVALID, "output channels overflow");
    int64_t dims[4] = {N, cbb, H / b, W / b};
    /* input viewed as [N,C,H/b,b1,W/b,b2]; output order [N,b1,b2,C,H/b,W/b] */
    int64_t v6[6] = {N, C, H / b, b, W / b, b}, s6[6];
    pl_strides(6, v6, s6);
    int64_t vd[6] = {N, b, b, C, H / b, W / b};
    int64_t ss[6] = {s6[0], s6[3], s6[5], s6[1], s6[2], s6[4]};
    pl_tensor *y;
    PL_TRY(out_alloc(ctx, 0, x->dtype, 4, dims, &y));
    return copy_view_into(y, x, 0, 6, vd, ss);
}

/* ---- Pad ---- */

typedef enum pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP } pad_mode;

/* Fills every element of t with the single element of v (same dtype). */
pl_status pl_shape_fill(pl_tensor *t, const pl_tensor *v) {
    if (t->dtype == PL_DT_STRING) {
        char **d = t->data;
        const char *s = ((char *const *)v->data)[0];
        for (int64_t i = 0; i < t->numel; i++) {
            char *c = pl_strdup(s);
            if (!c) return pl_err(PL_ERR_NOMEM, "out of memory");
            free(d[i]);
            d[i] = c;
        }
        return PL_OK;
    }
    size_t es = pl_dtype_size(t->dtype), total = t->nbytes;
    if (total == 0) return PL_OK;
    bool zero = true;
    for (size_t i = 0; i < es; i++) zero = zero && ((const unsigned char *)v->data)[i] == 0;
    if (zero) {
        memset(t->data, 0, total);
        return PL_OK;
    }
    char *d = t->data;
    memcpy(d, v->data, es);
    for (size_t done = es; done < total;) {
        size_t n = done < total - done ? done : total - done;
        memcpy(d + done, d, n);
        done += n;
    }
    return PL_OK;
}

/* Full begin/end pads (2*rank entries) from the attribute or inputs, by opset. */
static pl_status pad_amounts(pl_kernel_ctx *ctx, int r, int64_t *pads) {
    int64_t *given = NULL, n = 0;
    const char *what;
    if (ctx->opset < 11) {
        int na;
        const int64_t *a = pl_attr_ints(ctx->node, ctx->opset < 2 ? "paddings" : "pads", &na);
        if (!a) a = pl_attr_ints(ctx->node, ctx->opset < 2 ? "pads" : "paddings", &na);
        what = "attribute pads";
        if (!a) return pl_err(PL_ERR_INVALID, "attribute pads is required");
        given = malloc((size_t)(na ? na : 1) * sizeof *given);
        if (!given) return pl_err(PL_ERR_NOMEM, "out of memory");
        if (na) memcpy(given, a, (size_t)na * sizeof *given);
        n = na;
    } else {
        const pl_tensor *p;
        PL_TRY(pl_in_req(ctx, 1, &p));
        what = "input pads";
        PL_TRY(pl_as_int64s(p, what, &given, &n));
    }
    int axes[PL_MAX_RANK], na = r;
    for (int i = 0; i < r; i++) axes[i] = i;
    const pl_tensor *at = ctx->opset >= 18 ? pl_in(ctx, 3) : NULL;
    pl_status st = PL_OK;
    if (at) {
        int64_t *av = NULL, cnt = 0;
        st = at->kind == PL_KIND_TENSOR ? pl_as_int64s(at, "input axes", &av, &cnt)
                                        : pl_err(PL_ERR_INVALID, "input axes must be a tensor");
        if (st == PL_OK && cnt > r)
            st = pl_err(PL_ERR_INVALID, "input axes has %lld entries for rank %d", (long long)cnt, r);
        bool seen[PL_MAX_RANK] = {false};
        for (int64_t i = 0; st == PL_OK && i < cnt; i++) {
            st = pl_axis(av[i], r, "input axes entry", &axes[i]);
            if (st == PL_OK && seen[axes[i]])
                st = pl_err(PL_ERR_INVALID, "input axes repeats axis %lld", (long long)av[i]);
            if (st == PL_OK) seen[axes[i]] = true;
        }
        na = (int)cnt;
        free(av);
    }
    if (st == PL_OK && n != 2 * (int64_t)na)
        st = pl_err(PL_ERR_INVALID, "%s has %lld entries, expected %d (2 per axis)", what,
                    (long long)n, 2 * na);
    for (int i = 0; i < 2 * r; i++) pads[i] = 0;
    for (int i = 0; st == PL_OK && i < na; i++) {
        pads[axes[i]] = given[i];
        pads[r + axes[i]] = given[na + i];
    }
    free(given);
    return st;
}

/* The constant of constant mode as a one-element tensor of dtype dt (caller destroys). */
static pl_status pad_constant(pl_kernel_ctx *ctx, pl_dtype dt, pl_tensor **out) {
    *out = NULL;
    pl_tensor *v;
    PL_TRY(pl_tensor_create(dt, 0, NULL, &v));
    if (ctx->opset < 11) {
        if (dt == PL_DT_STRING) {
            free(((char **)v->data)[0]);
            ((char **)v->data)[0] = pl_strdup("");
        } else {
            pl_set_f64(v, 0, pl_attr_float(ctx->node, "value", 0.0f));
        }
        *out = v;
        return PL_OK;
    }
    const pl_tensor *c = pl_in(ctx, 2);
    pl_status st = PL_OK;
    if (c && c->kind != PL_KIND_TENSOR) st = pl_err(PL_ERR_INVALID, "input constant_value must be a tensor");
    else if (c && c->dtype != dt)
        st = pl_err(PL_ERR_INVALID, "input constant_value is %s, data is %s",
                    pl_dtype_name(c->dtype), pl_dtype_name(dt));
    else if (c && c->numel > 1)
        st = pl_err(PL_ERR_INVALID, "input constant_value must hold one value, has %lld",
                    (long long)c->numel);
    if (st == PL_OK && c && c->numel == 1) {
        if (dt == PL_DT_STRING) {
            char *s = pl_strdup(((char *const *)c->data)[0]);
            if (!s) st = pl_err(PL_ERR_NOMEM, "out of memory");
            free(((char **)v->data)[0]);
            ((char **)v->data)[0] = s;
        } else {
            memcpy(v->data, c->data, pl_dtype_size(dt));
        }
    } else if (st == PL_OK && dt == PL_DT_STRING) {
        ((char **)v->data)[0] = pl_strdup("");
        if (!((char **)v->data)[0]) st = pl_err(PL_ERR_NOMEM, "out of memory");
    }
    if (st != PL_OK) {
        pl_tensor_destroy(v);
        return st;
    }
    *out = v;
    return PL_OK;
}

/* Index into an interior of length m for an outside position k (reflect, edge or wrap). */
static int64_t pad_map(pad_mode mode, int64_t k, int64_t m) {
    if (mode == PAD_EDGE) return k < 0 ? 0 : m - 1;
    if (mode == PAD_WRAP) return ((k % m) + m) % m;
    if (m == 1) return 0;
    int64_t p = 2 * (m - 1), q = ((k % p) + p) % p;
    return q < m ? q : p - q;
}

/* Fills the border of y along each axis from its interior (already copied): axis a is filled
 * over the interior range of the axes before it and the full range of the axes after it. */
static pl_status pad_borders(pl_tensor *y, pad_mode mode, const int64_t *lo, const int64_t *len) {
    int r = y->rank;
    int64_t ys[PL_MAX_RANK];
    pl_strides(r, y->dims, ys);
    for (int a = r - 1; a >= 0; a--) {
        int64_t m = len[a], od = y->dims[a];
        if (m == od) continue;
        int64_t vd[PL_MAX_RANK], base = 0;
        for (int i = 0; i < r; i++) {
            vd[i] = i < a ? len[i] : y->dims[i];
            if (i < a) base += lo[i] * ys[i];
        }
        vd[a] = 1;
        for (int64_t j = 0; j < od; j++) {
            int64_t k = j - lo[a];
            if (k >= 0 && k < m) continue;
            int64_t src = lo[a] + pad_map(mode, k, m);
            PL_TRY(copy_strided(y, base + j * ys[a], y, base + src * ys[a], r, vd, ys, ys));
        }
    }
    return PL_OK;
}

static pl_status parse_pad_mode(const char *s, pad_mode *m) {
    if (strcmp(s, "constant") == 0) *m = PAD_CONSTANT;
    else if (strcmp(s, "reflect") == 0) *m = PAD_REFLECT;
    else if (strcmp(s, "edge") == 0) *m = PAD_EDGE;
    else if (strcmp(s, "wrap") == 0) *m = PAD_WRAP;
    else return pl_err(PL_ERR_INVALID, "attribute mode '%s' is not constant, reflect, edge or wrap", s);
    return PL_OK;
}

pl_status pl_shape_pad(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    pad_mode mode = PAD_CONSTANT;
    PL_TRY(parse_pad_mode(pl_attr_string(ctx->node, "mode", "constant"), &mode));
    int r = x->rank;
    int64_t pads[2 * PL_MAX_RANK];
    PL_TRY(pad_amounts(ctx, r, pads));
    /* output dims; interior: where the kept input lands (lo, len) and where it starts (from) */
    int64_t dims[PL_MAX_RANK], lo[PL_MAX_RANK], len[PL_MAX_RANK], from[PL_MAX_RANK];
    for (int i = 0; i < r; i++) {
        int64_t b = pads[i], e = pads[r + i], d = x->dims[i];
        if ((b > 0 && b > INT64_MAX / 4) || (e > 0 && e > INT64_MAX / 4) || b < -d || e < -d ||
            d + b + e < 0)
            return pl_err(PL_ERR_INVALID, "pads %lld,%lld are invalid for axis %d of size %lld",
                          (long long)b, (long long)e, i, (long long)d);
        dims[i] = d + b + e;
        lo[i] = b > 0 ? b : 0;
        from[i] = b < 0 ? -b : 0;
        len[i] = d - from[i] - (e < 0 ? -e : 0);
        if (len[i] < 0) len[i] = 0;
        if (mode != PAD_CONSTANT && len[i] == 0 && dims[i] > 0)
            return pl_err(PL_ERR_INVALID, "%s padding of axis %d needs a non-empty input axis",
                          pl_attr_string(ctx->node, "mode", ""), i);
    }
    PL_TRY(check_numel(r, dims, "Pad"));
    pl_tensor *y;
    if (mode == PAD_CONSTANT) {
        pl_tensor *v;
        PL_TRY(pad_constant(ctx, x->dtype, &v));
        pl_status st = out_alloc(ctx, 0, x->dtype, r, dims, &y);
        if (st == PL_OK) st = pl_shape_fill(y, v);
        pl_tensor_destroy(v);
        PL_TRY(st);
    } else {
        PL_TRY(out_alloc(ctx, 0, x->dtype, r, dims, &y));
    }
    int64_t xs[PL_MAX_RANK], ys[PL_MAX_RANK], soff = 0, doff = 0;
    pl_strides(r, x->dims, xs);
    pl_strides(r, dims, ys);
    for (int i = 0; i < r; i++) {
        soff += from[i] * xs[i];
        doff += lo[i] * ys[i];
    }
    PL_TRY(copy_strided(y, doff, x, soff, r, len, xs, ys));
    if (mode == PAD_CONSTANT) return PL_OK;
    return pad_borders(y, mode, lo, len);
}
