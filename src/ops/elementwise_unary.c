/* elementwise_unary.c - reference kernels of the unary elementwise ops: math functions,
 * activations, Clip, the predicates (IsNaN, IsInf, Not), BitwiseNot, Cast and CastLike.
 * The schema rows are in elementwise.c. Float ops run on float* and double* directly;
 * float16/bfloat16 go through float in small chunks; the ops that take integers (Abs, Neg,
 * Sign, Relu, Clip, Shrink) compute them through int64 with wrap-around (no C overflow). */
#include "ops.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

/* Attributes of a unary op; alpha/beta/gamma mean what the op's expression says. */
typedef struct uparams {
    double alpha, beta, gamma;
    /* integer Clip bounds (read as uint64 for unsigned types) */
    int64_t ilo, ihi;
    bool has_lo, has_hi;
} uparams;

typedef void (*loop_f32)(const float *x, float *y, int64_t n, const uparams *p);
typedef void (*loop_f64)(const double *x, double *y, int64_t n, const uparams *p);

/* EXPR sees `v` (the element), `real` (its type) and alpha, beta, gamma (in that type);
 * <tgmath.h> picks the float or double math function. y may alias x. */
#define UNARY_LOOP(NAME, T, EXPR)                                                                  \
    static void NAME(const T *x, T *y, int64_t n, const uparams *p) {                              \
        typedef T real;                                                                            \
        const real alpha = (real)p->alpha, beta = (real)p->beta, gamma = (real)p->gamma;           \
        (void)alpha;                                                                               \
        (void)beta;                                                                                \
        (void)gamma;                                                                               \
        for (int64_t i = 0; i < n; i++) {                                                          \
            const real v = x[i];                                                                   \
            y[i] = (real)(EXPR);                                                                   \
        }                                                                                          \
    }
#define UNARY(NAME, EXPR) UNARY_LOOP(NAME##_f32, float, EXPR) UNARY_LOOP(NAME##_f64, double, EXPR)

/* Sigmoid with one exp that cannot overflow: e = exp(-|v|). */
static inline float sigmoid_f(float v) {
    float e = exp(-fabs(v));
    return (v >= 0 ? 1.0f : e) / (1.0f + e);
}
static inline double sigmoid_d(double v) {
    double e = exp(-fabs(v));
    return (v >= 0 ? 1.0 : e) / (1.0 + e);
}
#define SIGMOID(v) _Generic((v), float: sigmoid_f, double: sigmoid_d)(v)

#define SOFTPLUS(v) ((v) > 0 ? (v) + log1p(exp(-(v))) : log1p(exp(v)))

UNARY(abs, fabs(v))
UNARY(neg, -v)
UNARY(reciprocal, 1 / v)
UNARY(floor, floor(v))
UNARY(ceil, ceil(v))
UNARY(round, nearbyint(v)) /* half to even in the default rounding mode */
UNARY(sqrt, sqrt(v))
UNARY(exp, exp(v))
UNARY(log, log(v))
UNARY(sin, sin(v))
UNARY(cos, cos(v))
UNARY(tan, tan(v))
UNARY(asin, asin(v))
UNARY(acos, acos(v))
UNARY(atan, atan(v))
UNARY(sinh, sinh(v))
UNARY(cosh, cosh(v))
UNARY(asinh, asinh(v))
UNARY(acosh, acosh(v))
UNARY(atanh, atanh(v))
UNARY(erf, erf(v))
UNARY(sign, v > 0 ? (real)1 : v < 0 ? (real)-1 : v)
/* Relu and LeakyRelu compare against `beta`, a runtime 0, which lets the compiler emit
 * branchless max/min (it keeps a branch for a literal 0.0); NaN and -0 pass through. */
UNARY(relu, v < beta ? beta : v)
UNARY(leaky_relu, (v < beta ? beta : v) + alpha * (v > beta ? beta : v))
UNARY(elu, v < 0 ? alpha * (exp(v) - 1) : v)
UNARY(selu, v <= 0 ? gamma * alpha * (exp(v) - 1) : gamma * v)
UNARY(celu, v > 0 ? v : alpha * (exp(v / alpha) - 1))
UNARY(sigmoid, SIGMOID(v))
UNARY(hard_sigmoid, fmax((real)0, fmin((real)1, alpha * v + beta)))
UNARY(hard_swish, v * fmax((real)0, fmin((real)1, alpha * v + beta)))
UNARY(softplus, SOFTPLUS(v))
UNARY(softsign, v / (1 + fabs(v)))
UNARY(thresholded_relu, v > alpha ? v : (real)0)
UNARY(shrink, v < -alpha ? v + beta : v > alpha ? v - beta : (real)0)
UNARY(tanh, tanh(v))
UNARY(mish, v * tanh(SOFTPLUS(v)))
UNARY(gelu, (real)0.5 * v * (1 + erf(v * (real)0.70710678118654752440)))
UNARY(gelu_tanh, (real)0.5 * v *
                     (1 + tanh((real)0.79788456080286535588 * (v + (real)0.044715 * v * v * v))))
UNARY(clip, (v < alpha ? alpha : v) > beta ? beta : (v < alpha ? alpha : v))

/* How an op treats integer inputs. */
typedef enum int_mode {
    INT_NONE, /* float types only */
    INT_ABS,
    INT_NEG,
    INT_SIGN,
    INT_RELU,
    INT_CLIP,
    INT_SHRINK
} int_mode;

typedef struct unary_def {
    const char *name;
    loop_f32 f32;
    loop_f64 f64;
    int_mode ints;
} unary_def;

#define CHUNK 256

/* float16/bfloat16 through float, CHUNK elements at a time. */
static void half_apply(const pl_tensor *x, pl_tensor *y, loop_f32 f, const uparams *p) {
    float buf[CHUNK];
    const uint16_t *src = x->data;
    uint16_t *dst = y->data;
    bool bf = x->dtype == PL_DT_BFLOAT16;
    for (int64_t i = 0; i < x->numel; i += CHUNK) {
        int64_t m = x->numel - i < CHUNK ? x->numel - i : CHUNK;
        for (int64_t j = 0; j < m; j++)
            buf[j] = bf ? pl_bf16_to_float(src[i + j]) : pl_half_to_float(src[i + j]);
        f(buf, buf, m, p);
        for (int64_t j = 0; j < m; j++)
            dst[i + j] = bf ? pl_float_to_bf16(buf[j]) : pl_float_to_half(buf[j]);
    }
}

static int64_t clip_signed(int64_t v, const uparams *p) {
    if (p->has_lo && v < p->ilo) v = p->ilo;
    if (p->has_hi && v > p->ihi) v = p->ihi;
    return v;
}

static uint64_t clip_unsigned(uint64_t v, const uparams *p) {
    if (p->has_lo && v < (uint64_t)p->ilo) v = (uint64_t)p->ilo;
    if (p->has_hi && v > (uint64_t)p->ihi) v = (uint64_t)p->ihi;
    return v;
}

/* One integer element; results wrap (abs/neg of the minimum stay the minimum). */
static int64_t int_elem(int_mode mode, int64_t v, bool sig, const uparams *p) {
    uint64_t u = (uint64_t)v;
    switch (mode) {
    case INT_ABS: return sig && v < 0 ? (int64_t)(0 - u) : v;
    case INT_NEG: return (int64_t)(0 - u);
    case INT_SIGN: return sig ? (v > 0) - (v < 0) : u != 0;
    case INT_RELU: return sig && v < 0 ? 0 : v;
    case INT_CLIP: return sig ? clip_signed(v, p) : (int64_t)clip_unsigned(u, p);
    case INT_NONE:
    case INT_SHRINK: return v; /* not reached: handled by the caller */
    }
    return v;
}

static void int_apply(const pl_tensor *x, pl_tensor *y, int_mode mode, const uparams *p) {
    bool sig = pl_dtype_is_signed(x->dtype);
    if (mode == INT_SHRINK) {
        for (int64_t i = 0; i < x->numel; i++) {
            double v = pl_get_f64(x, i);
            pl_set_f64(y, i, v < -p->alpha ? v + p->beta : v > p->alpha ? v - p->beta : 0.0);
        }
        return;
    }
    for (int64_t i = 0; i < x->numel; i++)
        pl_set_i64(y, i, int_elem(mode, pl_get_i64(x, i), sig, p));
}

/* Runs a unary op of the same output type as its input. */
static pl_status run_unary(pl_kernel_ctx *ctx, const unary_def *d, const uparams *p) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    bool ok = pl_dtype_is_float(x->dtype) || (pl_dtype_is_int(x->dtype) && d->ints != INT_NONE);
    if (!ok)
        return pl_err(PL_ERR_UNSUPPORTED, "%s: input type %s is not supported", d->name,
                      pl_dtype_name(x->dtype));
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, x->dtype, x->rank, x->dims, &y));
    switch (x->dtype) {
    case PL_DT_FLOAT: d->f32(x->data, y->data, x->numel, p); break;
    case PL_DT_DOUBLE: d->f64(x->data, y->data, x->numel, p); break;
    case PL_DT_FLOAT16:
    case PL_DT_BFLOAT16: half_apply(x, y, d->f32, p); break;
    default: int_apply(x, y, d->ints, p); break; /* an integer type, checked above */
    }
    return PL_OK;
}

#define UNARY_KERNEL(FN, NAME, OP, INTS)                                                           \
    pl_status FN(pl_kernel_ctx *ctx) {                                                             \
        static const unary_def d = {NAME, OP##_f32, OP##_f64, INTS};                               \
        uparams p = {0};                                                                           \
        return run_unary(ctx, &d, &p);                                                             \
    }

UNARY_KERNEL(pl_ew_abs, "Abs", abs, INT_ABS)
UNARY_KERNEL(pl_ew_neg, "Neg", neg, INT_NEG)
UNARY_KERNEL(pl_ew_reciprocal, "Reciprocal", reciprocal, INT_NONE)
UNARY_KERNEL(pl_ew_floor, "Floor", floor, INT_NONE)
UNARY_KERNEL(pl_ew_ceil, "Ceil", ceil, INT_NONE)
UNARY_KERNEL(pl_ew_round, "Round", round, INT_NONE)
UNARY_KERNEL(pl_ew_sqrt, "Sqrt", sqrt, INT_NONE)
UNARY_KERNEL(pl_ew_exp, "Exp", exp, INT_NONE)
UNARY_KERNEL(pl_ew_log, "Log", log, INT_NONE)
UNARY_KERNEL(pl_ew_sin, "Sin", sin, INT_NONE)
UNARY_KERNEL(pl_ew_cos, "Cos", cos, INT_NONE)
UNARY_KERNEL(pl_ew_tan, "Tan", tan, INT_NONE)
UNARY_KERNEL(pl_ew_asin, "Asin", asin, INT_NONE)
UNARY_KERNEL(pl_ew_acos, "Acos", acos, INT_NONE)
UNARY_KERNEL(pl_ew_atan, "Atan", atan, INT_NONE)
UNARY_KERNEL(pl_ew_sinh, "Sinh", sinh, INT_NONE)
UNARY_KERNEL(pl_ew_cosh, "Cosh", cosh, INT_NONE)
UNARY_KERNEL(pl_ew_asinh, "Asinh", asinh, INT_NONE)
UNARY_KERNEL(pl_ew_acosh, "Acosh", acosh, INT_NONE)
UNARY_KERNEL(pl_ew_atanh, "Atanh", atanh, INT_NONE)
UNARY_KERNEL(pl_ew_erf, "Erf", erf, INT_NONE)
UNARY_KERNEL(pl_ew_sign, "Sign", sign, INT_SIGN)
UNARY_KERNEL(pl_ew_relu, "Relu", relu, INT_RELU)
UNARY_KERNEL(pl_ew_sigmoid, "Sigmoid", sigmoid, INT_NONE)
UNARY_KERNEL(pl_ew_softplus, "Softplus", softplus, INT_NONE)
UNARY_KERNEL(pl_ew_softsign, "Softsign", softsign, INT_NONE)
UNARY_KERNEL(pl_ew_tanh, "Tanh", tanh, INT_NONE)
UNARY_KERNEL(pl_ew_mish, "Mish", mish, INT_NONE)

/* A unary op with attributes alpha/beta/gamma read by the caller. */
static pl_status run_with(pl_kernel_ctx *ctx, const char *name, loop_f32 f32, loop_f64 f64,
                          int_mode ints, double alpha, double beta, double gamma) {
    unary_def d = {name, f32, f64, ints};
    uparams p = {.alpha = alpha, .beta = beta, .gamma = gamma};
    return run_unary(ctx, &d, &p);
}

pl_status pl_ew_leaky_relu(pl_kernel_ctx *ctx) {
    double alpha = pl_attr_float(ctx->node, "alpha", 0.01f);
    return run_with(ctx, "LeakyRelu", leaky_relu_f32, leaky_relu_f64, INT_NONE, alpha, 0, 0);
}

pl_status pl_ew_elu(pl_kernel_ctx *ctx) {
    double alpha = pl_attr_float(ctx->node, "alpha", 1.0f);
    return run_with(ctx, "Elu", elu_f32, elu_f64, INT_NONE, alpha, 0, 0);
}

pl_status pl_ew_selu(pl_kernel_ctx *ctx) {
    double alpha = pl_attr_float(ctx->node, "alpha", 1.67326319217681884765625f);
    double gamma = pl_attr_float(ctx->node, "gamma", 1.05070102214813232421875f);
    return run_with(ctx, "Selu", selu_f32, selu_f64, INT_NONE, alpha, 0, gamma);
}

pl_status pl_ew_celu(pl_kernel_ctx *ctx) {
    double alpha = pl_attr_float(ctx->node, "alpha", 1.0f);
    if (alpha == 0)
        return pl_err(PL_ERR_INVALID, "Celu: attribute alpha must not be 0");
    return run_with(ctx, "Celu", celu_f32, celu_f64, INT_NONE, alpha, 0, 0);
}

pl_status pl_ew_hard_sigmoid(pl_kernel_ctx *ctx) {
    double alpha = pl_attr_float(ctx->node, "alpha", 0.2f);
    double beta = pl_attr_float(ctx->node, "beta", 0.5f);
    return run_with(ctx, "HardSigmoid", hard_sigmoid_f32, hard_sigmoid_f64, INT_NONE, alpha,
                    beta, 0);
}

pl_status pl_ew_hard_swish(pl_kernel_ctx *ctx) {
    return run_with(ctx, "HardSwish", hard_swish_f32, hard_swish_f64, INT_NONE, 1.0 / 6.0, 0.5,
                    0);
}

pl_status pl_ew_thresholded_relu(pl_kernel_ctx *ctx) {
    double alpha = pl_attr_float(ctx->node, "alpha", 1.0f);
    return run_with(ctx, "ThresholdedRelu", thresholded_relu_f32, thresholded_relu_f64,
                    INT_NONE, alpha, 0, 0);
}

pl_status pl_ew_shrink(pl_kernel_ctx *ctx) {
    double lambd = pl_attr_float(ctx->node, "lambd", 0.5f);
    double bias = pl_attr_float(ctx->node, "bias", 0.0f);
    return run_with(ctx, "Shrink", shrink_f32, shrink_f64, INT_SHRINK, lambd, bias, 0);
}

pl_status pl_ew_gelu(pl_kernel_ctx *ctx) {
    const char *approx = pl_attr_string(ctx->node, "approximate", "none");
    if (!strcmp(approx, "none"))
        return run_with(ctx, "Gelu", gelu_f32, gelu_f64, INT_NONE, 0, 0, 0);
    if (!strcmp(approx, "tanh"))
        return run_with(ctx, "Gelu", gelu_tanh_f32, gelu_tanh_f64, INT_NONE, 0, 0, 0);
    return pl_err(PL_ERR_INVALID, "Gelu: attribute approximate must be none or tanh, got %s",
                  approx);
}

/* ---- Clip ---- */

/* Reads the optional scalar bound input `i` (opset >= 11) into the float or integer field. */
static pl_status clip_bound(const pl_kernel_ctx *ctx, int i, const pl_tensor *x, double *f,
                            int64_t *iv, bool *has) {
    const pl_tensor *b = pl_in(ctx, i);
    *has = false;
    if (!b || b->kind == PL_KIND_NONE) return PL_OK;
    const char *what = i == 1 ? "min" : "max";
    if (b->kind != PL_KIND_TENSOR || b->numel != 1)
        return pl_err(PL_ERR_INVALID, "Clip: input %s must be a scalar, has %lld elements",
                      what, (long long)(b->kind == PL_KIND_TENSOR ? b->numel : -1));
    if (b->dtype != x->dtype)
        return pl_err(PL_ERR_INVALID, "Clip: input %s is %s but input is %s", what,
                      pl_dtype_name(b->dtype), pl_dtype_name(x->dtype));
    *f = pl_get_f64(b, 0);
    *iv = pl_get_i64(b, 0);
    *has = true;
    return PL_OK;
}

pl_status pl_ew_clip(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    uparams p = {.alpha = -INFINITY, .beta = INFINITY};
    if (ctx->opset < 11) {
        p.alpha = pl_attr_float(ctx->node, "min", -FLT_MAX);
        p.beta = pl_attr_float(ctx->node, "max", FLT_MAX);
        p.ilo = (int64_t)fmax(fmin(p.alpha, 9.2e18), -9.2e18);
        p.ihi = (int64_t)fmax(fmin(p.beta, 9.2e18), -9.2e18);
        p.has_lo = pl_node_attr(ctx->node, "min") != NULL;
        p.has_hi = pl_node_attr(ctx->node, "max") != NULL;
    } else {
        PL_TRY(clip_bound(ctx, 1, x, &p.alpha, &p.ilo, &p.has_lo));
        PL_TRY(clip_bound(ctx, 2, x, &p.beta, &p.ihi, &p.has_hi));
    }
    unary_def d = {"Clip", clip_f32, clip_f64, INT_CLIP};
    return run_unary(ctx, &d, &p);
}

/* ---- predicates and bit ops ---- */

pl_status pl_ew_not(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    if (x->dtype != PL_DT_BOOL)
        return pl_err(PL_ERR_INVALID, "Not: input must be bool, not %s", pl_dtype_name(x->dtype));
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, PL_DT_BOOL, x->rank, x->dims, &y));
    const uint8_t *src = x->data;
    uint8_t *dst = y->data;
    for (int64_t i = 0; i < x->numel; i++) dst[i] = !src[i];
    return PL_OK;
}

pl_status pl_ew_bitwise_not(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    if (!pl_dtype_is_int(x->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "BitwiseNot: input type %s is not supported",
                      pl_dtype_name(x->dtype));
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, x->dtype, x->rank, x->dims, &y));
    for (int64_t i = 0; i < x->numel; i++) pl_set_i64(y, i, ~pl_get_i64(x, i));
    return PL_OK;
}

/* IsNaN (detect < 0) or IsInf with the given signs. */
static pl_status run_predicate(pl_kernel_ctx *ctx, const char *name, int detect_pos,
                               int detect_neg) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    if (!pl_dtype_is_float(x->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "%s: input type %s is not supported", name,
                      pl_dtype_name(x->dtype));
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, PL_DT_BOOL, x->rank, x->dims, &y));
    uint8_t *dst = y->data;
    for (int64_t i = 0; i < x->numel; i++) {
        double v = pl_get_f64(x, i);
        if (detect_pos < 0) dst[i] = isnan(v) != 0;
        else dst[i] = (detect_pos && v == INFINITY) || (detect_neg && v == -INFINITY);
    }
    return PL_OK;
}

pl_status pl_ew_isnan(pl_kernel_ctx *ctx) { return run_predicate(ctx, "IsNaN", -1, -1); }

pl_status pl_ew_isinf(pl_kernel_ctx *ctx) {
    int64_t pos = pl_attr_int(ctx->node, "detect_positive", 1);
    int64_t neg = pl_attr_int(ctx->node, "detect_negative", 1);
    return run_predicate(ctx, "IsInf", pos != 0, neg != 0);
}

/* ---- Cast ---- */

/* True when `back` rounds to the same value of type t as `v` (a value of type t). */
static bool same_in_type(double back, double v, pl_dtype t) {
    switch (t) {
    case PL_DT_DOUBLE: return back == v;
    case PL_DT_FLOAT16: return pl_float_to_half((float)back) == pl_float_to_half((float)v);
    case PL_DT_BFLOAT16: return pl_float_to_bf16((float)back) == pl_float_to_bf16((float)v);
    default: return (float)back == (float)v;
    }
}

/* Writes digits `d` (no point) with decimal exponent `e` the way numpy prints floats:
 * positional for 1e-4 <= |v| < 1e16 ("65500.0", "0.001"), otherwise "1.5e-05". */
static void place_point(bool neg, const char *d, int e, char *buf, size_t size) {
    size_t nd = strlen(d), used = 0;
    char tmp[96];
    if (neg) tmp[used++] = '-';
    if (e < -4 || e >= 16) {
        tmp[used++] = d[0];
        if (nd > 1) used += (size_t)snprintf(tmp + used, sizeof tmp - used, ".%s", d + 1);
        snprintf(tmp + used, sizeof tmp - used, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    } else if (e < 0) {
        used += (size_t)snprintf(tmp + used, sizeof tmp - used, "0.");
        for (int k = 0; k < -e - 1; k++) tmp[used++] = '0';
        snprintf(tmp + used, sizeof tmp - used, "%s", d);
    } else {
        for (int k = 0; k <= e; k++) tmp[used++] = (size_t)k < nd ? d[k] : '0';
        snprintf(tmp + used, sizeof tmp - used, ".%s", (size_t)e + 1 < nd ? d + e + 1 : "0");
    }
    snprintf(buf, size, "%s", tmp);
}

/* The shortest decimal that reads back as the same value of type t, printed as numpy does;
 * "NaN", "INF" or "-INF" for the special values. */
static void format_float(double v, pl_dtype t, char *buf, size_t size) {
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "INF" : "-INF");
        return;
    }
    char sci[64];
    for (int p = 0; p < 17; p++) {
        snprintf(sci, sizeof sci, "%.*e", p, v);
        if (same_in_type(strtod(sci, NULL), v, t)) break;
    }
    /* sci is "-d.ddde+XX": collect the digits without trailing zeros, and the exponent */
    char digits[32];
    size_t nd = 0;
    const char *c = sci + (sci[0] == '-');
    for (; *c && *c != 'e' && nd + 1 < sizeof digits; c++)
        if (*c != '.') digits[nd++] = *c;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = '\0';
    int e = *c == 'e' ? atoi(c + 1) : 0;
    place_point(sci[0] == '-', digits, e, buf, size);
}

static pl_status float_to_string(const pl_tensor *x, pl_tensor *y) {
    char **dst = y->data;
    for (int64_t i = 0; i < x->numel; i++) {
        char buf[64];
        format_float(pl_get_f64(x, i), x->dtype, buf, sizeof buf);
        dst[i] = pl_strdup(buf);
        if (!dst[i]) return pl_err(PL_ERR_NOMEM, "Cast: out of memory");
    }
    return PL_OK;
}

static pl_status cast_to(pl_kernel_ctx *ctx, const char *name, const pl_tensor *x, int64_t to) {
    if (to < 0 || to > PL_DT_BFLOAT16 || !pl_dtype_valid((int)to))
        return pl_err(PL_ERR_UNSUPPORTED, "%s: target type %lld is not supported", name,
                      (long long)to);
    if (x->dtype == PL_DT_UNDEFINED || !pl_dtype_valid((int)x->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "%s: input type %s is not supported", name,
                      pl_dtype_name(x->dtype));
    if (to == PL_DT_STRING && pl_dtype_is_float(x->dtype)) {
        pl_tensor *y;
        PL_TRY(pl_out(ctx, 0, PL_DT_STRING, x->rank, x->dims, &y));
        return float_to_string(x, y);
    }
    pl_tensor *y;
    PL_TRY(pl_tensor_cast(x, (pl_dtype)to, &y));
    pl_out_set(ctx, 0, y);
    return PL_OK;
}

/* Opset < 6 names the target type with a string such as "FLOAT". */
static int64_t dtype_by_name(const char *s) {
    for (int t = PL_DT_FLOAT; t <= PL_DT_BFLOAT16; t++) {
        const char *n = pl_dtype_name((pl_dtype)t);
        size_t len = strlen(n);
        if (strlen(s) != len) continue;
        size_t k = 0;
        while (k < len && (s[k] | 0x20) == n[k]) k++;
        if (k == len) return t;
    }
    return -1;
}

pl_status pl_ew_cast(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    const pl_attr *to = pl_node_attr(ctx->node, "to");
    if (!to) return pl_err(PL_ERR_INVALID, "Cast: attribute to is required");
    if (to->type == PL_ATTR_STRING) {
        int64_t t = dtype_by_name(to->s ? to->s : "");
        if (t < 0)
            return pl_err(PL_ERR_UNSUPPORTED, "Cast: target type '%s' is not supported",
                          to->s ? to->s : "");
        return cast_to(ctx, "Cast", x, t);
    }
    return cast_to(ctx, "Cast", x, to->i);
}

pl_status pl_ew_cast_like(pl_kernel_ctx *ctx) {
    const pl_tensor *x, *like;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(pl_in_req(ctx, 1, &like));
    return cast_to(ctx, "CastLike", x, like->dtype);
}
