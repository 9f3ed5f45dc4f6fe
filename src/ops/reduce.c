/* reduce.c - reference kernels for the Reduce* family: ReduceSum, ReduceMean, ReduceMax,
 * ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp, ReduceSumSquare.
 *
 * Axes come from the `axes` attribute before opset 13 (ReduceSum) or 18 (the others) and from
 * the optional second input after. The input's dims are merged into alternating kept/reduced
 * blocks; each output then reduces either one row (read through an offset table, or
 * contiguously when the reduced axes are the last ones) or, when kept axes trail, a whole
 * contiguous run of `inner` outputs at once, so reductions over the last axes and over the
 * spatial axes of NCHW tensors stream through memory. Floating types accumulate in double;
 * integer types accumulate exactly in int64 (wrapping) except for L2, LogSum and LogSumExp,
 * which go through double. Reducing an empty set gives the op's identity (0 for sums, 1 for
 * Prod, -inf/+inf for Max/Min, -inf for LogSum and LogSumExp, NaN for Mean). */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum red_op {
    R_SUM,
    R_MEAN,
    R_MAX,
    R_MIN,
    R_PROD,
    R_L1,
    R_L2,
    R_LOGSUM,
    R_LSE,
    R_SUMSQ
} red_op;

enum { CHUNK = 256 };

/* The reduction laid out over merged blocks of the input. */
typedef struct red_plan {
    const pl_tensor *x;
    red_op op;
    int64_t n;          /* elements reduced into each output */
    const int64_t *off; /* n offsets of the reduced elements from a base; NULL: 0..n-1 */
    int64_t n_base;     /* number of bases */
    const int64_t *base;
    int64_t inner;      /* 0: one output per base (row mode); else outputs per base */
} red_plan;

/* ---- element loading ---- */

/* buf[k] = x[base + (off ? off[j0+k] : j0+k)] as double, for k < cnt. */
static void load_f64(const pl_tensor *x, int64_t base, const int64_t *off, int64_t j0,
                     int64_t cnt, double *buf) {
    if (x->dtype == PL_DT_FLOAT) {
        const float *p = (const float *)x->data + base;
        if (off)
            for (int64_t k = 0; k < cnt; k++) buf[k] = p[off[j0 + k]];
        else
            for (int64_t k = 0; k < cnt; k++) buf[k] = p[j0 + k];
    } else if (x->dtype == PL_DT_DOUBLE) {
        const double *p = (const double *)x->data + base;
        if (off)
            for (int64_t k = 0; k < cnt; k++) buf[k] = p[off[j0 + k]];
        else
            memcpy(buf, p + j0, (size_t)cnt * sizeof *buf);
    } else {
        for (int64_t k = 0; k < cnt; k++)
            buf[k] = pl_get_f64(x, base + (off ? off[j0 + k] : j0 + k));
    }
}

/* Like load_f64 into int64 (for the integer types). */
static void load_i64(const pl_tensor *x, int64_t base, const int64_t *off, int64_t j0,
                     int64_t cnt, int64_t *buf) {
    if (x->dtype == PL_DT_INT64) {
        const int64_t *p = (const int64_t *)x->data + base;
        if (off)
            for (int64_t k = 0; k < cnt; k++) buf[k] = p[off[j0 + k]];
        else
            memcpy(buf, p + j0, (size_t)cnt * sizeof *buf);
    } else if (x->dtype == PL_DT_INT32) {
        const int32_t *p = (const int32_t *)x->data + base;
        if (off)
            for (int64_t k = 0; k < cnt; k++) buf[k] = p[off[j0 + k]];
        else
            for (int64_t k = 0; k < cnt; k++) buf[k] = p[j0 + k];
    } else {
        for (int64_t k = 0; k < cnt; k++)
            buf[k] = pl_get_i64(x, base + (off ? off[j0 + k] : j0 + k));
    }
}

/* ---- double accumulation ---- */

static double init_f64(red_op op) {
    switch (op) {
    case R_MAX: return -INFINITY;
    case R_MIN: return INFINITY;
    case R_PROD: return 1.0;
    default: return 0.0;
    }
}

/* acc[i] = step(acc[i], v[i]) for i < cnt; with `scalar`, all of v folds into acc[0]. */
static void step_f64(red_op op, double *acc, const double *v, int64_t cnt, bool scalar) {
    if (scalar) {
        double a = acc[0];
        switch (op) {
        case R_SUM:
        case R_MEAN:
        case R_LOGSUM:
            for (int64_t i = 0; i < cnt; i++) a += v[i];
            break;
        case R_MAX:
            for (int64_t i = 0; i < cnt; i++)
                if (v[i] > a || isnan(v[i])) a = isnan(a) ? a : v[i];
            break;
        case R_MIN:
            for (int64_t i = 0; i < cnt; i++)
                if (v[i] < a || isnan(v[i])) a = isnan(a) ? a : v[i];
            break;
        case R_PROD:
            for (int64_t i = 0; i < cnt; i++) a *= v[i];
            break;
        case R_L1:
            for (int64_t i = 0; i < cnt; i++) a += fabs(v[i]);
            break;
        case R_L2:
        case R_SUMSQ:
            for (int64_t i = 0; i < cnt; i++) a += v[i] * v[i];
            break;
        case R_LSE: break; /* handled by the callers */
        }
        acc[0] = a;
        return;
    }
    switch (op) {
    case R_SUM:
    case R_MEAN:
    case R_LOGSUM:
        for (int64_t i = 0; i < cnt; i++) acc[i] += v[i];
        break;
    case R_MAX:
        for (int64_t i = 0; i < cnt; i++)
            if (v[i] > acc[i] || isnan(v[i])) acc[i] = isnan(acc[i]) ? acc[i] : v[i];
        break;
    case R_MIN:
        for (int64_t i = 0; i < cnt; i++)
            if (v[i] < acc[i] || isnan(v[i])) acc[i] = isnan(acc[i]) ? acc[i] : v[i];
        break;
    case R_PROD:
        for (int64_t i = 0; i < cnt; i++) acc[i] *= v[i];
        break;
    case R_L1:
        for (int64_t i = 0; i < cnt; i++) acc[i] += fabs(v[i]);
        break;
    case R_L2:
    case R_SUMSQ:
        for (int64_t i = 0; i < cnt; i++) acc[i] += v[i] * v[i];
        break;
    case R_LSE: break;
    }
}

static double finish_f64(red_op op, double a, int64_t n) {
    switch (op) {
    case R_MEAN: return a / (double)n; /* NaN for an empty set, as numpy */
    case R_L2: return sqrt(a);
    case R_LOGSUM: return log(a);
    default: return a;
    }
}

/* Stores v as element i of `y` (any numeric dtype). */
static void store_f64(pl_tensor *y, int64_t i, double v) {
    if (y->dtype == PL_DT_FLOAT) ((float *)y->data)[i] = (float)v;
    else if (y->dtype == PL_DT_DOUBLE) ((double *)y->data)[i] = v;
    else pl_set_f64(y, i, v);
}

/* One output of row mode in double: the n elements at base + off[j]. */
static double row_f64(const red_plan *p, int64_t base) {
    double buf[CHUNK];
    if (p->op == R_LSE) {
        double m = -INFINITY;
        for (int64_t j0 = 0; j0 < p->n; j0 += CHUNK) {
            int64_t cnt = p->n - j0 < CHUNK ? p->n - j0 : CHUNK;
            load_f64(p->x, base, p->off, j0, cnt, buf);
            step_f64(R_MAX, &m, buf, cnt, true);
        }
        if (!isfinite(m)) return m; /* empty or all -inf: -inf; any +inf: inf; NaN: NaN */
        double s = 0.0;
        for (int64_t j0 = 0; j0 < p->n; j0 += CHUNK) {
            int64_t cnt = p->n - j0 < CHUNK ? p->n - j0 : CHUNK;
            load_f64(p->x, base, p->off, j0, cnt, buf);
            for (int64_t k = 0; k < cnt; k++) s += exp(buf[k] - m);
        }
        return m + log(s);
    }
    double a = init_f64(p->op);
    for (int64_t j0 = 0; j0 < p->n; j0 += CHUNK) {
        int64_t cnt = p->n - j0 < CHUNK ? p->n - j0 : CHUNK;
        load_f64(p->x, base, p->off, j0, cnt, buf);
        step_f64(p->op, &a, buf, cnt, true);
    }
    return finish_f64(p->op, a, p->n);
}

/* `inner` consecutive outputs in double: rows of inner elements at base + off[j]. The work
 * arrays hold 2 * inner doubles each. */
static void run_f64_inner(const red_plan *p, int64_t base, double *acc, double *buf,
                          double *out) {
    int64_t inner = p->inner;
    if (p->op == R_LSE) {
        double *m = out;
        for (int64_t i = 0; i < inner; i++) m[i] = -INFINITY;
        for (int64_t j = 0; j < p->n; j++) {
            load_f64(p->x, base + p->off[j], NULL, 0, inner, buf);
            step_f64(R_MAX, m, buf, inner, false);
        }
        for (int64_t i = 0; i < inner; i++) acc[i] = 0.0;
        for (int64_t j = 0; j < p->n; j++) {
            load_f64(p->x, base + p->off[j], NULL, 0, inner, buf);
            for (int64_t i = 0; i < inner; i++)
                if (isfinite(m[i])) acc[i] += exp(buf[i] - m[i]);
        }
        for (int64_t i = 0; i < inner; i++)
            if (isfinite(m[i])) out[i] = m[i] + log(acc[i]);
        return;
    }
    double a0 = init_f64(p->op);
    for (int64_t i = 0; i < inner; i++) acc[i] = a0;
    for (int64_t j = 0; j < p->n; j++) {
        load_f64(p->x, base + p->off[j], NULL, 0, inner, buf);
        step_f64(p->op, acc, buf, inner, false);
    }
    for (int64_t i = 0; i < inner; i++) out[i] = finish_f64(p->op, acc[i], p->n);
}

/* ---- exact integer accumulation (wrapping like the integer types) ---- */

static int64_t init_i64(red_op op) {
    switch (op) {
    case R_MAX: return INT64_MIN;
    case R_MIN: return INT64_MAX;
    case R_PROD: return 1;
    default: return 0;
    }
}

static void step_i64(red_op op, int64_t *acc, const int64_t *v, int64_t cnt, bool scalar) {
    for (int64_t i = 0; i < cnt; i++) {
        int64_t *a = scalar ? acc : &acc[i];
        uint64_t ua = (uint64_t)*a, uv = (uint64_t)v[i];
        switch (op) {
        case R_MAX: *a = v[i] > *a ? v[i] : *a; break;
        case R_MIN: *a = v[i] < *a ? v[i] : *a; break;
        case R_PROD: *a = (int64_t)(ua * uv); break;
        case R_L1: *a = (int64_t)(ua + (v[i] < 0 ? 0 - uv : uv)); break;
        case R_SUMSQ: *a = (int64_t)(ua + uv * uv); break;
        default: *a = (int64_t)(ua + uv); break; /* R_SUM, R_MEAN */
        }
    }
}

static int64_t finish_i64(red_op op, int64_t a, int64_t n) {
    if (op == R_MEAN) return n > 0 ? a / n : 0;
    return a;
}

/* The identity of Max/Min over an empty set for an integer output type. */
static int64_t empty_int_limit(red_op op, pl_dtype t) {
    bool max = op == R_MAX;
    switch (t) {
    case PL_DT_INT8: return max ? INT8_MIN : INT8_MAX;
    case PL_DT_UINT8: return max ? 0 : UINT8_MAX;
    case PL_DT_INT16: return max ? INT16_MIN : INT16_MAX;
    case PL_DT_UINT16: return max ? 0 : UINT16_MAX;
    case PL_DT_INT32: return max ? INT32_MIN : INT32_MAX;
    case PL_DT_UINT32: return max ? 0 : (int64_t)UINT32_MAX;
    case PL_DT_UINT64: return max ? 0 : -1;
    default: return max ? INT64_MIN : INT64_MAX;
    }
}

static int64_t row_i64(const red_plan *p, int64_t base) {
    int64_t buf[CHUNK];
    int64_t a = init_i64(p->op);
    for (int64_t j0 = 0; j0 < p->n; j0 += CHUNK) {
        int64_t cnt = p->n - j0 < CHUNK ? p->n - j0 : CHUNK;
        load_i64(p->x, base, p->off, j0, cnt, buf);
        step_i64(p->op, &a, buf, cnt, true);
    }
    return finish_i64(p->op, a, p->n);
}

static void run_i64_inner(const red_plan *p, int64_t base, int64_t *acc, int64_t *buf) {
    int64_t a0 = init_i64(p->op);
    for (int64_t i = 0; i < p->inner; i++) acc[i] = a0;
    for (int64_t j = 0; j < p->n; j++) {
        load_i64(p->x, base + p->off[j], NULL, 0, p->inner, buf);
        step_i64(p->op, acc, buf, p->inner, false);
    }
    for (int64_t i = 0; i < p->inner; i++) acc[i] = finish_i64(p->op, acc[i], p->n);
}

/* Whether the op runs through the exact int64 path for input dtype t. */
static bool use_int_path(red_op op, pl_dtype t) {
    if (!pl_dtype_is_int(t)) return false;
    return op != R_L2 && op != R_LOGSUM && op != R_LSE;
}

/* Computes every output of the plan into y. */
static pl_status run_plan(const red_plan *p, pl_tensor *y) {
    bool ints = use_int_path(p->op, p->x->dtype);
    if (ints && p->n == 0 && (p->op == R_MAX || p->op == R_MIN)) {
        for (int64_t i = 0; i < y->numel; i++) pl_set_i64(y, i, empty_int_limit(p->op, y->dtype));
        return PL_OK;
    }
    if (p->inner == 0) {
        for (int64_t b = 0; b < p->n_base; b++) {
            if (ints) pl_set_i64(y, b, row_i64(p, p->base[b]));
            else store_f64(y, b, row_f64(p, p->base[b]));
        }
        return PL_OK;
    }
    int64_t inner = p->inner;
    void *work = malloc((size_t)inner * 3 * sizeof(double));
    if (!work) return pl_err(PL_ERR_NOMEM, "out of memory for %lld reduction outputs",
                             (long long)inner);
    for (int64_t b = 0; b < p->n_base; b++) {
        int64_t o = b * inner;
        if (ints) {
            int64_t *acc = work, *buf = acc + inner;
            run_i64_inner(p, p->base[b], acc, buf);
            for (int64_t i = 0; i < inner; i++) pl_set_i64(y, o + i, acc[i]);
        } else if (y->dtype == PL_DT_DOUBLE) {
            double *acc = work, *buf = acc + inner;
            run_f64_inner(p, p->base[b], acc, buf, (double *)y->data + o);
        } else {
            double *acc = work, *buf = acc + inner, *res = buf + inner;
            run_f64_inner(p, p->base[b], acc, buf, res);
            for (int64_t i = 0; i < inner; i++) store_f64(y, o + i, res[i]);
        }
    }
    free(work);
    return PL_OK;
}

/* ---- layout ---- */

/* All combinations of the blocks with red[b] == want, as element offsets in row-major order,
 * into a malloc'ed array (*count entries). */
static pl_status enumerate(int nb, const int64_t *size, const int64_t *stride, const bool *red,
                           bool want, int64_t **out, int64_t *count) {
    int sel[PL_MAX_RANK], ns = 0;
    int64_t total = 1;
    for (int b = 0; b < nb; b++)
        if (red[b] == want) {
            sel[ns++] = b;
            total *= size[b]; /* bounded by the input's element count */
        }
    int64_t *v = malloc((size_t)(total ? total : 1) * sizeof *v);
    if (!v) return pl_err(PL_ERR_NOMEM, "out of memory for %lld reduction offsets",
                          (long long)total);
    int64_t idx[PL_MAX_RANK] = {0}, cur = 0;
    for (int64_t k = 0; k < total; k++) {
        v[k] = cur;
        for (int s = ns - 1; s >= 0; s--) {
            int b = sel[s];
            cur += stride[b];
            if (++idx[s] < size[b]) break;
            cur -= stride[b] * size[b];
            idx[s] = 0;
        }
    }
    *out = v;
    *count = total;
    return PL_OK;
}

/* Reduces x over the axes flagged in `reduce` into y (already shaped). */
static pl_status reduce_into(const pl_tensor *x, const bool *reduce, red_op op, pl_tensor *y) {
    if (y->numel == 0) return PL_OK;
    /* merge adjacent dims of the same kind, dropping size-1 dims */
    int64_t size[PL_MAX_RANK], stride[PL_MAX_RANK];
    bool red[PL_MAX_RANK];
    int nb = 0;
    for (int d = 0; d < x->rank; d++) {
        if (x->dims[d] == 1) continue;
        if (nb > 0 && red[nb - 1] == reduce[d]) {
            size[nb - 1] *= x->dims[d];
        } else {
            size[nb] = x->dims[d];
            red[nb] = reduce[d];
            nb++;
        }
    }
    int64_t s = 1;
    for (int b = nb - 1; b >= 0; b--) {
        stride[b] = s;
        s *= size[b];
    }
    red_plan p = {.x = x, .op = op};
    bool inner_mode = nb > 0 && !red[nb - 1];
    if (inner_mode) {
        p.inner = size[nb - 1];
        nb--;
    }
    int64_t *off = NULL, *base = NULL;
    pl_status st = enumerate(nb, size, stride, red, true, &off, &p.n);
    if (st == PL_OK) st = enumerate(nb, size, stride, red, false, &base, &p.n_base);
    if (st == PL_OK) {
        int n_red = 0;
        for (int b = 0; b < nb; b++) n_red += red[b];
        /* one trailing reduced block: contiguous rows */
        p.off = !inner_mode && (n_red == 1 || nb == 0) ? NULL : off;
        p.base = base;
        if (inner_mode && p.inner > 0 && p.n_base * p.inner != y->numel)
            st = pl_err(PL_ERR_INTERNAL, "reduction layout mismatch");
        else if (!inner_mode && p.n_base != y->numel)
            st = pl_err(PL_ERR_INTERNAL, "reduction layout mismatch");
    }
    if (st == PL_OK) st = run_plan(&p, y);
    free(off);
    free(base);
    return st;
}

/* ---- the kernel ---- */

/* Reads the axes (attribute or input, by opset) into reduce[]; *all when none are given. */
static pl_status read_axes(pl_kernel_ctx *ctx, bool from_input, int rank, bool *reduce,
                           int *count) {
    *count = 0;
    const int64_t *ax = NULL;
    int64_t n = 0, *owned = NULL;
    const char *what = from_input ? "input 'axes'" : "attribute 'axes'";
    if (from_input) {
        const pl_tensor *t = pl_in(ctx, 1);
        if (t && t->kind == PL_KIND_TENSOR) {
            PL_TRY(pl_as_int64s(t, "input 'axes'", &owned, &n));
            ax = owned;
        } else if (t && t->kind == PL_KIND_SEQUENCE) {
            return pl_err(PL_ERR_INVALID, "input 'axes' must be a tensor, not a sequence");
        }
    } else {
        int c = 0;
        ax = pl_attr_ints(ctx->node, "axes", &c);
        n = c;
    }
    pl_status st = PL_OK;
    for (int d = 0; d < rank; d++) reduce[d] = false;
    for (int64_t i = 0; i < n && st == PL_OK; i++) {
        int a;
        st = pl_axis(ax[i], rank, what, &a);
        if (st == PL_OK && reduce[a])
            st = pl_err(PL_ERR_INVALID, "%s repeats axis %lld", what, (long long)ax[i]);
        if (st == PL_OK) reduce[a] = true;
    }
    free(owned);
    *count = (int)n;
    return st;
}

/* Shared body of every Reduce* op; `input_opset` is the first opset taking axes as input. */
static pl_status reduce_op(pl_kernel_ctx *ctx, red_op op, int64_t input_opset) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    if (!pl_dtype_is_float(x->dtype) && !pl_dtype_is_int(x->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "input 'data' of type %s is not supported",
                      pl_dtype_name(x->dtype));
    bool from_input = ctx->opset >= input_opset;
    if (!from_input && pl_in(ctx, 1))
        return pl_err(PL_ERR_INVALID, "input 'axes' is not allowed before opset %lld",
                      (long long)input_opset);
    if (from_input && pl_node_attr(ctx->node, "axes"))
        return pl_err(PL_ERR_INVALID, "attribute 'axes' is not allowed from opset %lld (axes "
                      "are an input)", (long long)input_opset);
    int64_t keepdims = pl_attr_int(ctx->node, "keepdims", 1);
    int64_t noop = pl_attr_int(ctx->node, "noop_with_empty_axes", 0);
    bool reduce[PL_MAX_RANK];
    int n_axes = 0;
    PL_TRY(read_axes(ctx, from_input, x->rank, reduce, &n_axes));
    if (n_axes == 0 && !noop)
        for (int d = 0; d < x->rank; d++) reduce[d] = true;
    int64_t dims[PL_MAX_RANK];
    int r = 0;
    for (int d = 0; d < x->rank; d++) {
        if (!reduce[d]) dims[r++] = x->dims[d];
        else if (keepdims) dims[r++] = 1;
    }
    pl_dtype ot = x->dtype;
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, ot, r, dims, &y));
    return reduce_into(x, reduce, op, y);
}

static pl_status k_reduce_sum(pl_kernel_ctx *c) { return reduce_op(c, R_SUM, 13); }
static pl_status k_reduce_mean(pl_kernel_ctx *c) { return reduce_op(c, R_MEAN, 18); }
static pl_status k_reduce_max(pl_kernel_ctx *c) { return reduce_op(c, R_MAX, 18); }
static pl_status k_reduce_min(pl_kernel_ctx *c) { return reduce_op(c, R_MIN, 18); }
static pl_status k_reduce_prod(pl_kernel_ctx *c) { return reduce_op(c, R_PROD, 18); }
static pl_status k_reduce_l1(pl_kernel_ctx *c) { return reduce_op(c, R_L1, 18); }
static pl_status k_reduce_l2(pl_kernel_ctx *c) { return reduce_op(c, R_L2, 18); }
static pl_status k_reduce_log_sum(pl_kernel_ctx *c) { return reduce_op(c, R_LOGSUM, 18); }
static pl_status k_reduce_lse(pl_kernel_ctx *c) { return reduce_op(c, R_LSE, 18); }
static pl_status k_reduce_sum_square(pl_kernel_ctx *c) { return reduce_op(c, R_SUMSQ, 18); }

const pl_op_schema pl_ops_reduce[] = {
    {"", "ReduceSum", 1, 2, 1, 1, k_reduce_sum},
    {"", "ReduceMean", 1, 2, 1, 1, k_reduce_mean},
    {"", "ReduceMax", 1, 2, 1, 1, k_reduce_max},
    {"", "ReduceMin", 1, 2, 1, 1, k_reduce_min},
    {"", "ReduceProd", 1, 2, 1, 1, k_reduce_prod},
    {"", "ReduceL1", 1, 2, 1, 1, k_reduce_l1},
    {"", "ReduceL2", 1, 2, 1, 1, k_reduce_l2},
    {"", "ReduceLogSum", 1, 2, 1, 1, k_reduce_log_sum},
    {"", "ReduceLogSumExp", 1, 2, 1, 1, k_reduce_lse},
    {"", "ReduceSumSquare", 1, 2, 1, 1, k_reduce_sum_square},
    {0},
};
