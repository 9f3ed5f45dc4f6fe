/* elementwise.c - reference kernels of the elementwise ops with numpy broadcasting: the binary
 * arithmetic, comparison, logical and bitwise ops, Pow, Mod, BitShift, PRelu, the variadic
 * Max/Min/Sum/Mean and Where. Unary ops, activations, Clip and Cast live in
 * elementwise_unary.c; this file holds the family's table.
 *
 * Integer semantics (all defined, never C undefined behaviour):
 *   - Add/Sub/Mul wrap around (computed on uint64_t and truncated to the type).
 *   - Div truncates toward zero; division by zero gives 0; INT_MIN / -1 wraps to INT_MIN.
 *   - Mod with fmod=0 takes the sign of the divisor (numpy), with fmod=1 that of the dividend
 *     (C); a zero divisor gives 0.
 *   - Pow of integers wraps; a negative exponent gives 0 unless the base is 1 or -1.
 *   - BitShift by the type's width or more gives 0.
 * float16 and bfloat16 inputs are computed in float and rounded back. */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- broadcast iteration ---- */

#define MAX_OPS 3

/* The output shape with every operand's strides, size-1 axes dropped and contiguous axes
 * merged, so that the innermost run is as long as possible. */
typedef struct bcast {
    int rank, nops;
    int64_t numel;
    int64_t dims[PL_MAX_RANK];
    int64_t st[MAX_OPS][PL_MAX_RANK];
} bcast;

/* Runs `n` output elements starting at linear output index `o`; operand k starts at element
 * off[k] and advances by ist[k] (0 or 1 in practice) per element. */
typedef void (*run_fn)(void *ud, int64_t o, const int64_t *off, const int64_t *ist, int64_t n);

static void bcast_init(bcast *bc, int nops, const pl_tensor *const *ops, int rank,
                       const int64_t *dims) {
    int64_t full[MAX_OPS][PL_MAX_RANK];
    for (int k = 0; k < nops; k++) pl_broadcast_strides(ops[k], rank, dims, full[k]);
    bc->nops = nops;
    bc->numel = 1;
    int r = 0;
    for (int i = 0; i < rank; i++) {
        bc->numel *= dims[i];
        if (dims[i] == 1) continue;
        bool merge = r > 0;
        for (int k = 0; k < nops && merge; k++)
            merge = bc->st[k][r - 1] == full[k][i] * dims[i];
        if (merge) {
            bc->dims[r - 1] *= dims[i];
            for (int k = 0; k < nops; k++) bc->st[k][r - 1] = full[k][i];
            continue;
        }
        bc->dims[r] = dims[i];
        for (int k = 0; k < nops; k++) bc->st[k][r] = full[k][i];
        r++;
    }
    bc->rank = r;
}

/* Calls fn once per innermost run, in output order. */
static void bcast_walk(const bcast *bc, run_fn fn, void *ud) {
    if (bc->numel == 0) return;
    int r = bc->rank;
    int64_t inner = r ? bc->dims[r - 1] : 1;
    int64_t ist[MAX_OPS] = {0}, off[MAX_OPS] = {0}, idx[PL_MAX_RANK] = {0};
    for (int k = 0; k < bc->nops; k++) ist[k] = r ? bc->st[k][r - 1] : 0;
    for (int64_t o = 0; o < bc->numel; o += inner) {
        fn(ud, o, off, ist, inner);
        for (int d = r - 2; d >= 0; d--) {
            for (int k = 0; k < bc->nops; k++) off[k] += bc->st[k][d];
            if (++idx[d] < bc->dims[d]) break;
            for (int k = 0; k < bc->nops; k++) off[k] -= bc->st[k][d] * bc->dims[d];
            idx[d] = 0;
        }
    }
}

/* ---- typed binary loops ---- */

typedef void (*bin_loop)(const void *a, int64_t sa, const void *b, int64_t sb, void *o,
                         int64_t n);

#define DEF_BIN(NAME, TA, TB, TO, EXPR)                                                            \
    static void NAME(const void *pa, int64_t sa, const void *pb, int64_t sb, void *po,            \
                     int64_t n) {                                                                  \
        const TA *a = pa;                                                                          \
        const TB *b = pb;                                                                          \
        TO *o = po;                                                                                \
        if (sa == 1 && sb == 1) {                                                                  \
            for (int64_t i = 0; i < n; i++) {                                                      \
                TA x = a[i];                                                                       \
                TB y = b[i];                                                                       \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else if (sa == 1 && sb == 0) {                                                          \
            TB y = b[0];                                                                           \
            for (int64_t i = 0; i < n; i++) {                                                      \
                TA x = a[i];                                                                       \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else if (sa == 0 && sb == 1) {                                                          \
            TA x = a[0];                                                                           \
            for (int64_t i = 0; i < n; i++) {                                                      \
                TB y = b[i];                                                                       \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                TA x = a[i * sa];                                                                  \
                TB y = b[i * sb];                                                                  \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        }                                                                                          \
    }

/* Comparisons of any type, bool output. */
#define CMP_OPS(S, T)                                                                              \
    DEF_BIN(eq_##S, T, T, uint8_t, x == y)                                                         \
    DEF_BIN(gt_##S, T, T, uint8_t, x > y)                                                          \
    DEF_BIN(ge_##S, T, T, uint8_t, x >= y)                                                         \
    DEF_BIN(lt_##S, T, T, uint8_t, x < y)                                                          \
    DEF_BIN(le_##S, T, T, uint8_t, x <= y)

/* Ops whose bits do not depend on signedness: run signed types on the unsigned loops. */
#define WRAP_OPS(S, T)                                                                             \
    DEF_BIN(add_##S, T, T, T, (T)((uint64_t)x + (uint64_t)y))                                      \
    DEF_BIN(sub_##S, T, T, T, (T)((uint64_t)x - (uint64_t)y))                                      \
    DEF_BIN(mul_##S, T, T, T, (T)((uint64_t)x * (uint64_t)y))                                      \
    DEF_BIN(band_##S, T, T, T, (T)(x & y))                                                         \
    DEF_BIN(bor_##S, T, T, T, (T)(x | y))                                                          \
    DEF_BIN(bxor_##S, T, T, T, (T)(x ^ y))

#define UNSIGNED_OPS(S, T, BITS)                                                                   \
    WRAP_OPS(S, T)                                                                                 \
    CMP_OPS(S, T)                                                                                  \
    DEF_BIN(div_##S, T, T, T, y == 0 ? (T)0 : (T)(x / y))                                          \
    DEF_BIN(mod_##S, T, T, T, y == 0 ? (T)0 : (T)(x % y))                                          \
    DEF_BIN(max_##S, T, T, T, x > y ? x : y)                                                       \
    DEF_BIN(min_##S, T, T, T, x < y ? x : y)                                                       \
    DEF_BIN(keep_##S, T, T, T, ((void)y, x))                                                       \
    DEF_BIN(shl_##S, T, T, T, y >= BITS ? (T)0 : (T)((uint64_t)x << y))                            \
    DEF_BIN(shr_##S, T, T, T, y >= BITS ? (T)0 : (T)(x >> y))

/* numpy's remainder: the sign of the divisor. A zero divisor gives 0; -1 gives 0 (avoids the
 * INT_MIN % -1 trap). */
#define PYMOD_INT(S, T)                                                                            \
    static inline T pymod_##S(T x, T y) {                                                          \
        if (y == 0 || y == -1) return 0;                                                           \
        T r = (T)(x % y);                                                                          \
        if (r != 0 && ((r < 0) != (y < 0))) r = (T)(r + y);                                        \
        return r;                                                                                  \
    }

#define SIGNED_OPS(S, T)                                                                           \
    PYMOD_INT(S, T)                                                                                \
    CMP_OPS(S, T)                                                                                  \
    DEF_BIN(div_##S, T, T, T, y == 0 ? (T)0 : y == -1 ? (T)(0 - (uint64_t)x) : (T)(x / y))         \
    DEF_BIN(fmod_##S, T, T, T, (y == 0 || y == -1) ? (T)0 : (T)(x % y))                            \
    DEF_BIN(mod_##S, T, T, T, pymod_##S(x, y))                                                     \
    DEF_BIN(max_##S, T, T, T, x > y ? x : y)                                                       \
    DEF_BIN(min_##S, T, T, T, x < y ? x : y)                                                       \
    DEF_BIN(prelu_##S, T, T, T, x < 0 ? (T)((uint64_t)x * (uint64_t)y) : x)

#define FLOAT_OPS(S, T, FMOD, POW)                                                                 \
    static inline T pymod_##S(T x, T y) {                                                          \
        T r = FMOD(x, y);                                                                          \
        if (r != 0 && ((r < 0) != (y < 0))) r += y;                                                \
        return r;                                                                                  \
    }                                                                                              \
    CMP_OPS(S, T)                                                                                  \
    DEF_BIN(add_##S, T, T, T, x + y)                                                               \
    DEF_BIN(sub_##S, T, T, T, x - y)                                                               \
    DEF_BIN(mul_##S, T, T, T, x * y)                                                               \
    DEF_BIN(div_##S, T, T, T, x / y)                                                               \
    DEF_BIN(fmod_##S, T, T, T, FMOD(x, y))                                                         \
    DEF_BIN(mod_##S, T, T, T, pymod_##S(x, y))                                                     \
    DEF_BIN(pow_##S, T, T, T, POW(x, y))                                                           \
    DEF_BIN(max_##S, T, T, T, (x > y || x != x) ? x : y)                                           \
    DEF_BIN(min_##S, T, T, T, (x < y || x != x) ? x : y)                                           \
    DEF_BIN(prelu_##S, T, T, T, x < 0 ? x * y : x)

UNSIGNED_OPS(u8, uint8_t, 8)
UNSIGNED_OPS(u16, uint16_t, 16)
UNSIGNED_OPS(u32, uint32_t, 32)
UNSIGNED_OPS(u64, uint64_t, 64)
SIGNED_OPS(i8, int8_t)
SIGNED_OPS(i16, int16_t)
SIGNED_OPS(i32, int32_t)
SIGNED_OPS(i64, int64_t)
FLOAT_OPS(f32, float, fmodf, powf)
FLOAT_OPS(f64, double, fmod, pow)
DEF_BIN(eq_b, uint8_t, uint8_t, uint8_t, (x != 0) == (y != 0))
DEF_BIN(and_b, uint8_t, uint8_t, uint8_t, (x != 0) & (y != 0))
DEF_BIN(or_b, uint8_t, uint8_t, uint8_t, (x != 0) | (y != 0))
DEF_BIN(xor_b, uint8_t, uint8_t, uint8_t, (x != 0) ^ (y != 0))

#define NDT (PL_DT_BFLOAT16 + 1)

/* Loops by dtype; NULL where the op does not take the type. float16/bfloat16 use the float
 * loop on converted copies. */
typedef struct loop_table {
    bin_loop f[NDT];
} loop_table;

#define ALL_INTS(OP)                                                                               \
    [PL_DT_UINT8] = OP##_u8, [PL_DT_UINT16] = OP##_u16, [PL_DT_UINT32] = OP##_u32,                 \
    [PL_DT_UINT64] = OP##_u64, [PL_DT_INT8] = OP##_i8, [PL_DT_INT16] = OP##_i16,                   \
    [PL_DT_INT32] = OP##_i32, [PL_DT_INT64] = OP##_i64
#define WRAP_INTS(OP)                                                                              \
    [PL_DT_UINT8] = OP##_u8, [PL_DT_UINT16] = OP##_u16, [PL_DT_UINT32] = OP##_u32,                 \
    [PL_DT_UINT64] = OP##_u64, [PL_DT_INT8] = OP##_u8, [PL_DT_INT16] = OP##_u16,                   \
    [PL_DT_INT32] = OP##_u32, [PL_DT_INT64] = OP##_u64
#define FLOATS(OP) [PL_DT_FLOAT] = OP##_f32, [PL_DT_DOUBLE] = OP##_f64

static const loop_table T_ADD = {{WRAP_INTS(add), FLOATS(add)}};
static const loop_table T_SUB = {{WRAP_INTS(sub), FLOATS(sub)}};
static const loop_table T_MUL = {{WRAP_INTS(mul), FLOATS(mul)}};
static const loop_table T_DIV = {{ALL_INTS(div), FLOATS(div)}};
static const loop_table T_MOD = {{ALL_INTS(mod), FLOATS(mod)}};
static const loop_table T_FMOD = {{[PL_DT_UINT8] = mod_u8, [PL_DT_UINT16] = mod_u16,
                                   [PL_DT_UINT32] = mod_u32, [PL_DT_UINT64] = mod_u64,
                                   [PL_DT_INT8] = fmod_i8, [PL_DT_INT16] = fmod_i16,
                                   [PL_DT_INT32] = fmod_i32, [PL_DT_INT64] = fmod_i64,
                                   FLOATS(fmod)}};
static const loop_table T_MAX = {{ALL_INTS(max), FLOATS(max)}};
static const loop_table T_MIN = {{ALL_INTS(min), FLOATS(min)}};
static const loop_table T_EQ = {{ALL_INTS(eq), FLOATS(eq), [PL_DT_BOOL] = eq_b}};
static const loop_table T_GT = {{ALL_INTS(gt), FLOATS(gt)}};
static const loop_table T_GE = {{ALL_INTS(ge), FLOATS(ge)}};
static const loop_table T_LT = {{ALL_INTS(lt), FLOATS(lt)}};
static const loop_table T_LE = {{ALL_INTS(le), FLOATS(le)}};
static const loop_table T_AND = {{[PL_DT_BOOL] = and_b}};
static const loop_table T_OR = {{[PL_DT_BOOL] = or_b}};
static const loop_table T_XOR = {{[PL_DT_BOOL] = xor_b}};
static const loop_table T_BAND = {{WRAP_INTS(band)}};
static const loop_table T_BOR = {{WRAP_INTS(bor)}};
static const loop_table T_BXOR = {{WRAP_INTS(bxor)}};
static const loop_table T_SHL = {{[PL_DT_UINT8] = shl_u8, [PL_DT_UINT16] = shl_u16,
                                  [PL_DT_UINT32] = shl_u32, [PL_DT_UINT64] = shl_u64}};
static const loop_table T_SHR = {{[PL_DT_UINT8] = shr_u8, [PL_DT_UINT16] = shr_u16,
                                  [PL_DT_UINT32] = shr_u32, [PL_DT_UINT64] = shr_u64}};
static const loop_table T_PRELU = {{[PL_DT_INT8] = prelu_i8, [PL_DT_INT16] = prelu_i16,
                                    [PL_DT_INT32] = prelu_i32, [PL_DT_INT64] = prelu_i64,
                                    [PL_DT_UINT8] = keep_u8, [PL_DT_UINT16] = keep_u16,
                                    [PL_DT_UINT32] = keep_u32, [PL_DT_UINT64] = keep_u64,
                                    FLOATS(prelu)}};
static const loop_table T_POW = {{FLOATS(pow)}};

/* ---- applying a loop over broadcast operands ---- */

typedef struct bin_ud {
    bin_loop f;
    const char *a, *b;
    char *o;
    size_t ea, eb, eo;
} bin_ud;

static void bin_run(void *p, int64_t o, const int64_t *off, const int64_t *ist, int64_t n) {
    const bin_ud *u = p;
    u->f(u->a + off[0] * (int64_t)u->ea, ist[0], u->b + off[1] * (int64_t)u->eb, ist[1],
         u->o + o * (int64_t)u->eo, n);
}

static size_t elem_size(pl_dtype t) {
    return t == PL_DT_STRING ? sizeof(char *) : pl_dtype_size(t);
}

/* out = f(a, b) with a and b broadcast to out's shape (out may alias a). */
static void apply_loop(bin_loop f, const pl_tensor *a, const pl_tensor *b, pl_tensor *out) {
    const pl_tensor *ops[2] = {a, b};
    bcast bc;
    bcast_init(&bc, 2, ops, out->rank, out->dims);
    bin_ud u = {f, a->data, b->data, out->data, elem_size(a->dtype), elem_size(b->dtype),
                elem_size(out->dtype)};
    bcast_walk(&bc, bin_run, &u);
}

static bool is_half(pl_dtype t) { return t == PL_DT_FLOAT16 || t == PL_DT_BFLOAT16; }

/* A float32 copy of a float16/bfloat16 tensor, or NULL with *use = t for other types. */
static pl_status widen(const pl_tensor *t, pl_tensor **tmp, const pl_tensor **use) {
    *tmp = NULL;
    *use = t;
    if (!is_half(t->dtype)) return PL_OK;
    PL_TRY(pl_tensor_cast(t, PL_DT_FLOAT, tmp));
    *use = *tmp;
    return PL_OK;
}

/* Output `i` of `dtype` from a float32 result (rounding to float16/bfloat16), or `res` itself
 * when the types match. Takes ownership of res. */
static pl_status out_from(pl_kernel_ctx *ctx, int i, pl_dtype dtype, pl_tensor *res) {
    if (res->dtype == dtype) {
        pl_out_set(ctx, i, res);
        return PL_OK;
    }
    pl_tensor *cast;
    pl_status st = pl_tensor_cast(res, dtype, &cast);
    pl_tensor_destroy(res);
    if (st != PL_OK) return st;
    pl_out_set(ctx, i, cast);
    return PL_OK;
}

/* ---- binary ops ---- */

typedef struct binop {
    const char *name;
    const loop_table *loops;
    bool out_bool; /* comparisons and logical ops */
    bool legacy;   /* has the opset < 7 `broadcast`/`axis` attributes */
} binop;

static bool same_shape(const pl_tensor *a, const pl_tensor *b) {
    if (a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

/* Opset < 7 broadcasting: without broadcast=1 the shapes must be equal; with it, B's axes line
 * up with A's from `axis` on (default: the trailing axes). *view is a reshaped view of B for
 * numpy broadcasting, or NULL when B can be used as it is. */
static pl_status legacy_view(const pl_kernel_ctx *ctx, const char *name, const pl_tensor *a,
                             const pl_tensor *b, pl_tensor **view) {
    *view = NULL;
    if (ctx->opset >= 7) return PL_OK;
    char sa[256], sb[256];
    if (!pl_attr_int(ctx->node, "broadcast", 0)) {
        if (same_shape(a, b)) return PL_OK;
        return pl_err(PL_ERR_INVALID,
                      "%s (opset %lld) without broadcast=1 needs equal shapes, got %s and %s",
                      name, (long long)ctx->opset, pl_dims_str(a->rank, a->dims, sa, sizeof sa),
                      pl_dims_str(b->rank, b->dims, sb, sizeof sb));
    }
    const pl_attr *ax = pl_node_attr(ctx->node, "axis");
    if (!ax) return PL_OK;
    int axis;
    PL_TRY(pl_axis(ax->i, a->rank, "attribute axis", &axis));
    if (axis + b->rank > a->rank)
        return pl_err(PL_ERR_INVALID, "%s: B %s does not fit into A %s at axis %d", name,
                      pl_dims_str(b->rank, b->dims, sb, sizeof sb),
                      pl_dims_str(a->rank, a->dims, sa, sizeof sa), axis);
    int64_t dims[PL_MAX_RANK];
    int rank = a->rank - axis;
    for (int i = 0; i < rank; i++) dims[i] = i < b->rank ? b->dims[i] : 1;
    return pl_tensor_view(b->dtype, rank, dims, b->data, view);
}

/* Computes a binary op on two tensors of the same type into a new tensor (widening float16
 * and bfloat16 to float and back). */
static pl_status binary_compute(const binop *op, const pl_tensor *a, const pl_tensor *b,
                                pl_tensor **out) {
    *out = NULL;
    if (a->dtype != b->dtype)
        return pl_err(PL_ERR_INVALID, "%s: inputs have different types %s and %s", op->name,
                      pl_dtype_name(a->dtype), pl_dtype_name(b->dtype));
    pl_dtype dt = a->dtype;
    pl_dtype work = is_half(dt) ? PL_DT_FLOAT : dt;
    bin_loop f = (int)work < NDT ? op->loops->f[work] : NULL;
    if (!f)
        return pl_err(PL_ERR_UNSUPPORTED, "%s: input type %s is not supported", op->name,
                      pl_dtype_name(dt));
    int rank;
    int64_t dims[PL_MAX_RANK];
    PL_TRY(pl_broadcast(a->rank, a->dims, b->rank, b->dims, &rank, dims));
    pl_tensor *ta = NULL, *tb = NULL, *res = NULL;
    const pl_tensor *ua, *ub;
    pl_status st = widen(a, &ta, &ua);
    if (st == PL_OK) st = widen(b, &tb, &ub);
    if (st == PL_OK) st = pl_tensor_create(op->out_bool ? PL_DT_BOOL : work, rank, dims, &res);
    if (st == PL_OK) apply_loop(f, ua, ub, res);
    pl_tensor_destroy(ta);
    pl_tensor_destroy(tb);
    if (st != PL_OK) {
        pl_tensor_destroy(res);
        return st;
    }
    *out = res;
    return PL_OK;
}

static pl_status run_binop(pl_kernel_ctx *ctx, const binop *op) {
    const pl_tensor *a, *b;
    PL_TRY(pl_in_req(ctx, 0, &a));
    PL_TRY(pl_in_req(ctx, 1, &b));
    pl_tensor *view = NULL, *res;
    if (op->legacy) PL_TRY(legacy_view(ctx, op->name, a, b, &view));
    pl_status st = binary_compute(op, a, view ? view : b, &res);
    pl_tensor_destroy(view);
    if (st != PL_OK) return st;
    return out_from(ctx, 0, op->out_bool ? PL_DT_BOOL : a->dtype, res);
}

#define BINOP_KERNEL(FN, NAME, TABLE, OUT_BOOL, LEGACY)                                            \
    static pl_status FN(pl_kernel_ctx *ctx) {                                                      \
        static const binop op = {NAME, &TABLE, OUT_BOOL, LEGACY};                                  \
        return run_binop(ctx, &op);                                                                \
    }

BINOP_KERNEL(k_add, "Add", T_ADD, false, true)
BINOP_KERNEL(k_sub, "Sub", T_SUB, false, true)
BINOP_KERNEL(k_mul, "Mul", T_MUL, false, true)
BINOP_KERNEL(k_div, "Div", T_DIV, false, true)
BINOP_KERNEL(k_equal, "Equal", T_EQ, true, true)
BINOP_KERNEL(k_greater, "Greater", T_GT, true, true)
BINOP_KERNEL(k_greater_eq, "GreaterOrEqual", T_GE, true, false)
BINOP_KERNEL(k_less, "Less", T_LT, true, true)
BINOP_KERNEL(k_less_eq, "LessOrEqual", T_LE, true, false)
BINOP_KERNEL(k_and, "And", T_AND, true, true)
BINOP_KERNEL(k_or, "Or", T_OR, true, true)
BINOP_KERNEL(k_xor, "Xor", T_XOR, true, true)
BINOP_KERNEL(k_bitwise_and, "BitwiseAnd", T_BAND, false, false)
BINOP_KERNEL(k_bitwise_or, "BitwiseOr", T_BOR, false, false)
BINOP_KERNEL(k_bitwise_xor, "BitwiseXor", T_BXOR, false, false)

/* Equal also compares strings (opset 19). */
static pl_status k_equal_any(pl_kernel_ctx *ctx) {
    const pl_tensor *a, *b;
    PL_TRY(pl_in_req(ctx, 0, &a));
    PL_TRY(pl_in_req(ctx, 1, &b));
    if (a->dtype != PL_DT_STRING || b->dtype != PL_DT_STRING) return k_equal(ctx);
    int rank;
    int64_t dims[PL_MAX_RANK];
    PL_TRY(pl_broadcast(a->rank, a->dims, b->rank, b->dims, &rank, dims));
    pl_tensor *o;
    PL_TRY(pl_out(ctx, 0, PL_DT_BOOL, rank, dims, &o));
    int64_t sa[PL_MAX_RANK], sb[PL_MAX_RANK], idx[PL_MAX_RANK] = {0};
    pl_broadcast_strides(a, rank, dims, sa);
    pl_broadcast_strides(b, rank, dims, sb);
    char *const *da = a->data, *const *db = b->data;
    for (int64_t i = 0; i < o->numel; i++) {
        int64_t ia = 0, ib = 0;
        for (int d = 0; d < rank; d++) {
            ia += idx[d] * sa[d];
            ib += idx[d] * sb[d];
        }
        ((uint8_t *)o->data)[i] = strcmp(da[ia] ? da[ia] : "", db[ib] ? db[ib] : "") == 0;
        for (int d = rank - 1; d >= 0 && ++idx[d] == dims[d]; d--) idx[d] = 0;
    }
    return PL_OK;
}

static pl_status k_mod(pl_kernel_ctx *ctx) {
    int64_t fmod_attr = pl_attr_int(ctx->node, "fmod", 0);
    if (fmod_attr != 0 && fmod_attr != 1)
        return pl_err(PL_ERR_INVALID, "Mod: attribute fmod must be 0 or 1, got %lld",
                      (long long)fmod_attr);
    static const binop mod = {"Mod", &T_MOD, false, false};
    static const binop fmod_op = {"Mod", &T_FMOD, false, false};
    return run_binop(ctx, fmod_attr ? &fmod_op : &mod);
}

static pl_status k_bitshift(pl_kernel_ctx *ctx) {
    const char *dir = pl_attr_string(ctx->node, "direction", NULL);
    static const binop shl = {"BitShift", &T_SHL, false, false};
    static const binop shr = {"BitShift", &T_SHR, false, false};
    if (dir && !strcmp(dir, "LEFT")) return run_binop(ctx, &shl);
    if (dir && !strcmp(dir, "RIGHT")) return run_binop(ctx, &shr);
    return pl_err(PL_ERR_INVALID, "BitShift: attribute direction must be LEFT or RIGHT, got %s",
                  dir ? dir : "(missing)");
}

/* ---- PRelu ---- */

/* Opset < 7 PRelu: a slope of one element is shared; a 1-D slope as long as X's axis 1 is per
 * channel. *view reshapes such a slope to [C,1,...] for numpy broadcasting. */
static pl_status prelu_legacy_view(const pl_kernel_ctx *ctx, const pl_tensor *x,
                                   const pl_tensor *slope, pl_tensor **view) {
    *view = NULL;
    if (ctx->opset >= 7 || slope->rank != 1 || x->rank < 2 || slope->dims[0] != x->dims[1] ||
        slope->numel == 1)
        return PL_OK;
    int64_t dims[PL_MAX_RANK];
    int rank = x->rank - 1;
    for (int i = 0; i < rank; i++) dims[i] = i == 0 ? slope->dims[0] : 1;
    return pl_tensor_view(slope->dtype, rank, dims, slope->data, view);
}

static pl_status k_prelu(pl_kernel_ctx *ctx) {
    const pl_tensor *x, *slope;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(pl_in_req(ctx, 1, &slope));
    pl_tensor *view = NULL, *res;
    PL_TRY(prelu_legacy_view(ctx, x, slope, &view));
    const pl_tensor *s = view ? view : slope;
    int rank;
    int64_t dims[PL_MAX_RANK];
    pl_status st = pl_broadcast(x->rank, x->dims, s->rank, s->dims, &rank, dims);
    if (st == PL_OK && (rank != x->rank || memcmp(dims, x->dims, (size_t)rank * sizeof *dims))) {
        char sx[256], ss[256];
        st = pl_err(PL_ERR_INVALID, "PRelu: slope %s does not broadcast to X %s",
                    pl_dims_str(slope->rank, slope->dims, ss, sizeof ss),
                    pl_dims_str(x->rank, x->dims, sx, sizeof sx));
    }
    static const binop op = {"PRelu", &T_PRELU, false, false};
    if (st == PL_OK) st = binary_compute(&op, x, s, &res);
    pl_tensor_destroy(view);
    if (st != PL_OK) return st;
    return out_from(ctx, 0, x->dtype, res);
}

/* ---- Pow ---- */

/* Integer power by squaring, wrapping around; negative exponents give 0 except for bases 1
 * and -1 (numpy raises instead). */
static int64_t int_pow(int64_t base, uint64_t e, bool negative) {
    if (negative) return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, b = (uint64_t)base;
    while (e) {
        if (e & 1) r *= b;
        b *= b;
        e >>= 1;
    }
    return (int64_t)r;
}

typedef struct pow_ud {
    const pl_tensor *a, *b;
    pl_tensor *o;
} pow_ud;

/* Pow of mixed types, element by element through int64 or double. */
static void pow_generic_run(void *p, int64_t o, const int64_t *off, const int64_t *ist,
                            int64_t n) {
    const pow_ud *u = p;
    bool int_base = pl_dtype_is_int(u->a->dtype), int_exp = pl_dtype_is_int(u->b->dtype);
    bool uexp = !pl_dtype_is_signed(u->b->dtype);
    for (int64_t i = 0; i < n; i++) {
        int64_t ia = off[0] + i * ist[0], ib = off[1] + i * ist[1];
        if (int_base && int_exp) {
            int64_t e = pl_get_i64(u->b, ib);
            bool neg = !uexp && e < 0;
            uint64_t ue = neg ? 0 - (uint64_t)e : (uint64_t)e;
            pl_set_i64(u->o, o + i, int_pow(pl_get_i64(u->a, ia), ue, neg));
        } else {
            pl_set_f64(u->o, o + i, pow(pl_get_f64(u->a, ia), pl_get_f64(u->b, ib)));
        }
    }
}

static bool pow_base_ok(pl_dtype t) { return pl_dtype_is_int(t) || pl_dtype_is_float(t); }

static pl_status k_pow(pl_kernel_ctx *ctx) {
    const pl_tensor *a, *b;
    PL_TRY(pl_in_req(ctx, 0, &a));
    PL_TRY(pl_in_req(ctx, 1, &b));
    if (!pow_base_ok(a->dtype) || !pow_base_ok(b->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "Pow: types %s ^ %s are not supported",
                      pl_dtype_name(a->dtype), pl_dtype_name(b->dtype));
    pl_tensor *view = NULL;
    PL_TRY(legacy_view(ctx, "Pow", a, b, &view));
    const pl_tensor *e = view ? view : b;
    pl_status st;
    if (a->dtype == PL_DT_FLOAT && e->dtype == PL_DT_FLOAT && e->numel == 1 && e->rank <= a->rank &&
        ((const float *)e->data)[0] == 2.0f) {
        /* x^2 (variance in decomposed LayerNorms): x*x is the correctly rounded square */
        pl_tensor *o;
        st = pl_out(ctx, 0, PL_DT_FLOAT, a->rank, a->dims, &o);
        const float *x = a->data;
        float *y = o ? o->data : NULL;
        for (int64_t i = 0; st == PL_OK && i < a->numel; i++) y[i] = x[i] * x[i];
    } else if (a->dtype == e->dtype && pl_dtype_is_float(a->dtype)) {
        static const binop op = {"Pow", &T_POW, false, false};
        pl_tensor *res;
        st = binary_compute(&op, a, e, &res);
        if (st == PL_OK) st = out_from(ctx, 0, a->dtype, res);
    } else {
        int rank;
        int64_t dims[PL_MAX_RANK];
        pl_tensor *o;
        st = pl_broadcast(a->rank, a->dims, e->rank, e->dims, &rank, dims);
        if (st == PL_OK) st = pl_out(ctx, 0, a->dtype, rank, dims, &o);
        if (st == PL_OK) {
            const pl_tensor *ops[2] = {a, e};
            bcast bc;
            bcast_init(&bc, 2, ops, rank, dims);
            pow_ud u = {a, e, o};
            bcast_walk(&bc, pow_generic_run, &u);
        }
    }
    pl_tensor_destroy(view);
    return st;
}

/* ---- variadic Max, Min, Sum, Mean ---- */

typedef struct varop {
    const char *name;
    const loop_table *loops;
    bool mean;
} varop;

static void copy_run(void *p, int64_t o, const int64_t *off, const int64_t *ist, int64_t n) {
    const bin_ud *u = p;
    const char *src = u->a + off[0] * (int64_t)u->ea;
    char *dst = u->o + o * (int64_t)u->eo;
    if (ist[0] == 1) {
        memcpy(dst, src, (size_t)n * u->eo);
        return;
    }
    for (int64_t i = 0; i < n; i++) memcpy(dst + i * (int64_t)u->eo, src, u->eo);
}

/* dst (full shape) = src broadcast; both of the same numeric type. */
static void broadcast_copy(const pl_tensor *src, pl_tensor *dst) {
    bcast bc;
    bcast_init(&bc, 1, &src, dst->rank, dst->dims);
    bin_ud u = {NULL, src->data, NULL, dst->data, elem_size(src->dtype), 0,
                elem_size(dst->dtype)};
    bcast_walk(&bc, copy_run, &u);
}

/* Folds inputs into acc (already shaped to the broadcast of all inputs). */
static pl_status variadic_fold(const varop *op, pl_kernel_ctx *ctx, bin_loop f, pl_tensor *acc) {
    pl_status st = PL_OK;
    for (int i = 0; i < ctx->n_in && st == PL_OK; i++) {
        pl_tensor *tmp;
        const pl_tensor *use;
        st = widen(ctx->in[i], &tmp, &use);
        if (st != PL_OK) break;
        if (i == 0) broadcast_copy(use, acc);
        else apply_loop(f, acc, use, acc);
        pl_tensor_destroy(tmp);
    }
    if (st != PL_OK || !op->mean) return st;
    if (acc->dtype == PL_DT_FLOAT)
        for (int64_t i = 0; i < acc->numel; i++) ((float *)acc->data)[i] /= (float)ctx->n_in;
    else
        for (int64_t i = 0; i < acc->numel; i++) ((double *)acc->data)[i] /= (double)ctx->n_in;
    return PL_OK;
}

static pl_status run_variadic(pl_kernel_ctx *ctx, const varop *op) {
    if (ctx->n_in < 1) return pl_err(PL_ERR_INVALID, "%s needs at least one input", op->name);
    const pl_tensor *first;
    PL_TRY(pl_in_req(ctx, 0, &first));
    int rank = first->rank;
    int64_t dims[PL_MAX_RANK];
    memcpy(dims, first->dims, sizeof dims);
    for (int i = 1; i < ctx->n_in; i++) {
        const pl_tensor *t;
        PL_TRY(pl_in_req(ctx, i, &t));
        if (t->dtype != first->dtype)
            return pl_err(PL_ERR_INVALID, "%s: input %d is %s, input 0 is %s", op->name, i,
                          pl_dtype_name(t->dtype), pl_dtype_name(first->dtype));
        int64_t prev[PL_MAX_RANK];
        memcpy(prev, dims, sizeof prev);
        PL_TRY(pl_broadcast(rank, prev, t->rank, t->dims, &rank, dims));
    }
    pl_dtype work = is_half(first->dtype) ? PL_DT_FLOAT : first->dtype;
    bin_loop f = (int)work < NDT ? op->loops->f[work] : NULL;
    if (!f || (op->mean && !pl_dtype_is_float(work)))
        return pl_err(PL_ERR_UNSUPPORTED, "%s: input type %s is not supported", op->name,
                      pl_dtype_name(first->dtype));
    pl_tensor *acc;
    PL_TRY(pl_tensor_create(work, rank, dims, &acc));
    pl_status st = variadic_fold(op, ctx, f, acc);
    if (st != PL_OK) {
        pl_tensor_destroy(acc);
        return st;
    }
    return out_from(ctx, 0, first->dtype, acc);
}

#define VARIADIC_KERNEL(FN, NAME, TABLE, MEAN)                                                     \
    static pl_status FN(pl_kernel_ctx *ctx) {                                                      \
        static const varop op = {NAME, &TABLE, MEAN};                                              \
        return run_variadic(ctx, &op);                                                             \
    }

VARIADIC_KERNEL(k_max, "Max", T_MAX, false)
VARIADIC_KERNEL(k_min, "Min", T_MIN, false)
VARIADIC_KERNEL(k_sum, "Sum", T_ADD, false)
VARIADIC_KERNEL(k_mean, "Mean", T_ADD, true)

/* ---- Where ---- */

typedef struct where_ud {
    const uint8_t *c;
    const char *x, *y;
    char *o;
    size_t es;
    bool strings;
    pl_status st;
} where_ud;

#define WHERE_LOOP(T)                                                                              \
    for (int64_t i = 0; i < n; i++)                                                                \
        ((T *)dst)[i] = c[i * ist[0]] ? ((const T *)x)[i * ist[1]] : ((const T *)y)[i * ist[2]];

static void where_run(void *p, int64_t o, const int64_t *off, const int64_t *ist, int64_t n) {
    where_ud *u = p;
    const uint8_t *c = u->c + off[0];
    const char *x = u->x + off[1] * (int64_t)u->es, *y = u->y + off[2] * (int64_t)u->es;
    char *dst = u->o + o * (int64_t)u->es;
    if (u->strings) {
        for (int64_t i = 0; i < n && u->st == PL_OK; i++) {
            const char *s = c[i * ist[0]] ? ((char *const *)x)[i * ist[1]]
                                          : ((char *const *)y)[i * ist[2]];
            ((char **)dst)[i] = pl_strdup(s ? s : "");
            if (!((char **)dst)[i]) u->st = pl_err(PL_ERR_NOMEM, "Where: out of memory");
        }
        return;
    }
    switch (u->es) {
    case 1: WHERE_LOOP(uint8_t) break;
    case 2: WHERE_LOOP(uint16_t) break;
    case 4: WHERE_LOOP(uint32_t) break;
    default: WHERE_LOOP(uint64_t) break;
    }
}

static pl_status k_where(pl_kernel_ctx *ctx) {
    const pl_tensor *c, *x, *y;
    PL_TRY(pl_in_req(ctx, 0, &c));
    PL_TRY(pl_in_req(ctx, 1, &x));
    PL_TRY(pl_in_req(ctx, 2, &y));
    if (c->dtype != PL_DT_BOOL)
        return pl_err(PL_ERR_INVALID, "Where: condition must be bool, not %s",
                      pl_dtype_name(c->dtype));
    if (x->dtype != y->dtype)
        return pl_err(PL_ERR_INVALID, "Where: X is %s but Y is %s", pl_dtype_name(x->dtype),
                      pl_dtype_name(y->dtype));
    size_t es = elem_size(x->dtype);
    if (es != 1 && es != 2 && es != 4 && es != 8)
        return pl_err(PL_ERR_UNSUPPORTED, "Where: type %s is not supported",
                      pl_dtype_name(x->dtype));
    int r1, rank;
    int64_t d1[PL_MAX_RANK], dims[PL_MAX_RANK];
    PL_TRY(pl_broadcast(c->rank, c->dims, x->rank, x->dims, &r1, d1));
    PL_TRY(pl_broadcast(r1, d1, y->rank, y->dims, &rank, dims));
    pl_tensor *o;
    PL_TRY(pl_out(ctx, 0, x->dtype, rank, dims, &o));
    const pl_tensor *ops[3] = {c, x, y};
    bcast bc;
    bcast_init(&bc, 3, ops, rank, dims);
    where_ud u = {c->data, x->data, y->data, o->data, es, x->dtype == PL_DT_STRING, PL_OK};
    bcast_walk(&bc, where_run, &u);
    return u.st;
}

/* ---- the family table ---- */

/* Kernels of elementwise_unary.c. */
pl_status pl_ew_abs(pl_kernel_ctx *ctx);
pl_status pl_ew_neg(pl_kernel_ctx *ctx);
pl_status pl_ew_reciprocal(pl_kernel_ctx *ctx);
pl_status pl_ew_floor(pl_kernel_ctx *ctx);
pl_status pl_ew_ceil(pl_kernel_ctx *ctx);
pl_status pl_ew_round(pl_kernel_ctx *ctx);
pl_status pl_ew_sqrt(pl_kernel_ctx *ctx);
pl_status pl_ew_exp(pl_kernel_ctx *ctx);
pl_status pl_ew_log(pl_kernel_ctx *ctx);
pl_status pl_ew_sin(pl_kernel_ctx *ctx);
pl_status pl_ew_cos(pl_kernel_ctx *ctx);
pl_status pl_ew_tan(pl_kernel_ctx *ctx);
pl_status pl_ew_asin(pl_kernel_ctx *ctx);
pl_status pl_ew_acos(pl_kernel_ctx *ctx);
pl_status pl_ew_atan(pl_kernel_ctx *ctx);
pl_status pl_ew_sinh(pl_kernel_ctx *ctx);
pl_status pl_ew_cosh(pl_kernel_ctx *ctx);
pl_status pl_ew_asinh(pl_kernel_ctx *ctx);
pl_status pl_ew_acosh(pl_kernel_ctx *ctx);
pl_status pl_ew_atanh(pl_kernel_ctx *ctx);
pl_status pl_ew_erf(pl_kernel_ctx *ctx);
pl_status pl_ew_sign(pl_kernel_ctx *ctx);
pl_status pl_ew_not(pl_kernel_ctx *ctx);
pl_status pl_ew_isnan(pl_kernel_ctx *ctx);
pl_status pl_ew_isinf(pl_kernel_ctx *ctx);
pl_status pl_ew_bitwise_not(pl_kernel_ctx *ctx);
pl_status pl_ew_relu(pl_kernel_ctx *ctx);
pl_status pl_ew_leaky_relu(pl_kernel_ctx *ctx);
pl_status pl_ew_elu(pl_kernel_ctx *ctx);
pl_status pl_ew_selu(pl_kernel_ctx *ctx);
pl_status pl_ew_celu(pl_kernel_ctx *ctx);
pl_status pl_ew_sigmoid(pl_kernel_ctx *ctx);
pl_status pl_ew_hard_sigmoid(pl_kernel_ctx *ctx);
pl_status pl_ew_hard_swish(pl_kernel_ctx *ctx);
pl_status pl_ew_softplus(pl_kernel_ctx *ctx);
pl_status pl_ew_softsign(pl_kernel_ctx *ctx);
pl_status pl_ew_thresholded_relu(pl_kernel_ctx *ctx);
pl_status pl_ew_shrink(pl_kernel_ctx *ctx);
pl_status pl_ew_tanh(pl_kernel_ctx *ctx);
pl_status pl_ew_mish(pl_kernel_ctx *ctx);
pl_status pl_ew_gelu(pl_kernel_ctx *ctx);
pl_status pl_ew_clip(pl_kernel_ctx *ctx);
pl_status pl_ew_cast(pl_kernel_ctx *ctx);
pl_status pl_ew_cast_like(pl_kernel_ctx *ctx);

const pl_op_schema pl_ops_elementwise[] = {
    {"", "Add", 2, 2, 1, 1, k_add},
    {"", "Sub", 2, 2, 1, 1, k_sub},
    {"", "Mul", 2, 2, 1, 1, k_mul},
    {"", "Div", 2, 2, 1, 1, k_div},
    {"", "Pow", 2, 2, 1, 1, k_pow},
    {"", "Mod", 2, 2, 1, 1, k_mod},
    {"", "BitShift", 2, 2, 1, 1, k_bitshift},
    {"", "BitwiseAnd", 2, 2, 1, 1, k_bitwise_and},
    {"", "BitwiseOr", 2, 2, 1, 1, k_bitwise_or},
    {"", "BitwiseXor", 2, 2, 1, 1, k_bitwise_xor},
    {"", "And", 2, 2, 1, 1, k_and},
    {"", "Or", 2, 2, 1, 1, k_or},
    {"", "Xor", 2, 2, 1, 1, k_xor},
    {"", "Equal", 2, 2, 1, 1, k_equal_any},
    {"", "Greater", 2, 2, 1, 1, k_greater},
    {"", "GreaterOrEqual", 2, 2, 1, 1, k_greater_eq},
    {"", "Less", 2, 2, 1, 1, k_less},
    {"", "LessOrEqual", 2, 2, 1, 1, k_less_eq},
    {"", "PRelu", 2, 2, 1, 1, k_prelu},
    {"", "Max", 1, -1, 1, 1, k_max},
    {"", "Min", 1, -1, 1, 1, k_min},
    {"", "Sum", 1, -1, 1, 1, k_sum},
    {"", "Mean", 1, -1, 1, 1, k_mean},
    {"", "Where", 3, 3, 1, 1, k_where},
    {"", "Abs", 1, 1, 1, 1, pl_ew_abs},
    {"", "Neg", 1, 1, 1, 1, pl_ew_neg},
    {"", "Reciprocal", 1, 1, 1, 1, pl_ew_reciprocal},
    {"", "Floor", 1, 1, 1, 1, pl_ew_floor},
    {"", "Ceil", 1, 1, 1, 1, pl_ew_ceil},
    {"", "Round", 1, 1, 1, 1, pl_ew_round},
    {"", "Sqrt", 1, 1, 1, 1, pl_ew_sqrt},
    {"", "Exp", 1, 1, 1, 1, pl_ew_exp},
    {"", "Log", 1, 1, 1, 1, pl_ew_log},
    {"", "Sin", 1, 1, 1, 1, pl_ew_sin},
    {"", "Cos", 1, 1, 1, 1, pl_ew_cos},
    {"", "Tan", 1, 1, 1, 1, pl_ew_tan},
    {"", "Asin", 1, 1, 1, 1, pl_ew_asin},
    {"", "Acos", 1, 1, 1, 1, pl_ew_acos},
    {"", "Atan", 1, 1, 1, 1, pl_ew_atan},
    {"", "Sinh", 1, 1, 1, 1, pl_ew_sinh},
    {"", "Cosh", 1, 1, 1, 1, pl_ew_cosh},
    {"", "Asinh", 1, 1, 1, 1, pl_ew_asinh},
    {"", "Acosh", 1, 1, 1, 1, pl_ew_acosh},
    {"", "Atanh", 1, 1, 1, 1, pl_ew_atanh},
    {"", "Erf", 1, 1, 1, 1, pl_ew_erf},
    {"", "Sign", 1, 1, 1, 1, pl_ew_sign},
    {"", "Not", 1, 1, 1, 1, pl_ew_not},
    {"", "IsNaN", 1, 1, 1, 1, pl_ew_isnan},
    {"", "IsInf", 1, 1, 1, 1, pl_ew_isinf},
    {"", "BitwiseNot", 1, 1, 1, 1, pl_ew_bitwise_not},
    {"", "Relu", 1, 1, 1, 1, pl_ew_relu},
    {"", "LeakyRelu", 1, 1, 1, 1, pl_ew_leaky_relu},
    {"", "Elu", 1, 1, 1, 1, pl_ew_elu},
    {"", "Selu", 1, 1, 1, 1, pl_ew_selu},
    {"", "Celu", 1, 1, 1, 1, pl_ew_celu},
    {"", "Sigmoid", 1, 1, 1, 1, pl_ew_sigmoid},
    {"", "HardSigmoid", 1, 1, 1, 1, pl_ew_hard_sigmoid},
    {"", "HardSwish", 1, 1, 1, 1, pl_ew_hard_swish},
    {"", "Softplus", 1, 1, 1, 1, pl_ew_softplus},
    {"", "Softsign", 1, 1, 1, 1, pl_ew_softsign},
    {"", "ThresholdedRelu", 1, 1, 1, 1, pl_ew_thresholded_relu},
    {"", "Shrink", 1, 1, 1, 1, pl_ew_shrink},
    {"", "Tanh", 1, 1, 1, 1, pl_ew_tanh},
    {"", "Mish", 1, 1, 1, 1, pl_ew_mish},
    {"", "Gelu", 1, 1, 1, 1, pl_ew_gelu},
    {"", "Clip", 1, 3, 1, 1, pl_ew_clip},
    {"", "Cast", 1, 1, 1, 1, pl_ew_cast},
    {"", "CastLike", 2, 2, 1, 1, pl_ew_cast_like},
    {0},
};
