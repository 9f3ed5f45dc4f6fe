/* split.c - is a run separable along the batch axis? Batch splitting (cpu_exec.c) runs a query
 * of N samples as several smaller runs over slices of axis 0, one per thread, so that each
 * thread's activations stay in its caches. That is exact only when every node computes sample
 * i of its outputs from sample i of its inputs alone, with axis 0 the sample axis throughout.
 *
 * The recording run of each input-shape signature classifies every value, node by node, with
 * the shapes it just computed:
 *   CONST  does not depend on the inputs (initializers, folded constants, nodes of constants);
 *   BATCH  axis 0 is the sample axis, and sample i depends on sample i of the inputs only;
 *   MIXED  anything else (Shape of a sample value, a reduction over axis 0, an op not known).
 * The run is separable when every graph input is BATCH (same axis-0 size) and every graph
 * output is BATCH. The rules are conservative: an op not listed, an attribute that touches
 * axis 0 or a shape that cannot be proved makes its outputs MIXED. */
#include "cpu.h"
#include "split.h"

#include <string.h>

bool pl_op_listed(const char *op, const char *const *list) {
    for (int i = 0; list[i]; i++)
        if (!strcmp(op, list[i])) return true;
    return false;
}

/* Ops whose output i is input 0's operation sample by sample; their other inputs must be
 * constants (weights, bounds). */
static const char *const per_sample_ops[] = {
    "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Celu", "Gelu", "HardSigmoid",
    "HardSwish", "Softplus", "Softsign", "Mish", "Exp", "Log", "Sqrt", "Reciprocal", "Neg",
    "Abs", "Ceil", "Floor", "Round", "Sign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan",
    "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Erf", "Not", "IsNaN", "IsInf", "Cast",
    "Identity", "Clip", "ThresholdedRelu", "Shrink", "Conv", "ConvTranspose", "AveragePool",
    "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "LRN", "InstanceNormalization",
    "DepthToSpace", "SpaceToDepth", "SqueezeExcitation", NULL};

/* Broadcasting element-wise ops: every input either a sample value of the output's rank or a
 * constant that broadcasts over axis 0. */
static const char *const broadcast_ops[] = {
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Equal", "Less",
    "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Where", "Mod",
    "BitShift", "PRelu", NULL};

static const char *const reduce_ops[] = {
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
    "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", NULL};

const char *const pl_random_ops[] = {
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
    "Bernoulli", NULL};

typedef struct ctx {
    const pl_xgraph *xg;
    const pl_xnode *xn;
    const signed char *cls;
    const pl_tensor *(*shape)(void *user, int v);
    void *user;
} ctx;

static int in_cls(const ctx *c, int i) {
    if (i >= c->xn->n_in || c->xn->in[i] < 0) return PL_VB_CONST;
    int k = c->cls[c->xn->in[i]];
    return k == PL_VB_UNSET ? PL_VB_MIXED : k;
}

static const pl_tensor *in_shape(const ctx *c, int i) {
    if (i >= c->xn->n_in || c->xn->in[i] < 0) return NULL;
    return c->shape(c->user, c->xn->in[i]);
}

static const pl_tensor *in_const(const ctx *c, int i) {
    if (i >= c->xn->n_in || c->xn->in[i] < 0) return NULL;
    return c->xg->consts[c->xn->in[i]];
}

/* Integer values of a constant int32/int64 tensor, up to cap; -1 when not such a tensor. */
static int const_ints(const pl_tensor *t, int64_t *out, int cap) {
    if (!t || t->kind != PL_KIND_TENSOR || (t->dtype != PL_DT_INT64 && t->dtype != PL_DT_INT32) || t->numel > cap) return -1;
    for (int64_t i = 0; i < t->numel; i++)
        out[i] = t->dtype == PL_DT_INT64 ? ((const int64_t *)t->data)[i] : ((const int32_t *)t->data)[i];
    return (int)t->numel;
}

/* Whether any of the axes (normalized against rank) is 0. */
static bool has_axis0(const int64_t *axes, int n, int rank) {
    for (int i = 0; i < n; i++)
        if (axes[i] == 0 || (axes[i] < 0 && axes[i] + rank == 0)) return true;
    return false;
}

static bool axis_is0(int64_t axis, int rank) { return axis == 0 || (rank > 0 && axis + rank == 0); }

/* Input i broadcasts against an output of rank r whose axis 0 is the sample axis: a sample
 * value of rank r with the output's axis-0 size, or a constant without axis 0 of its own. */
static bool broadcasts(const ctx *c, int i, int r, int64_t n) {
    int k = in_cls(c, i);
    const pl_tensor *t = in_shape(c, i);
    if (k == PL_VB_CONST) return !t || t->kind != PL_KIND_TENSOR || t->rank < r || t->dims[0] == 1;
    return k == PL_VB_BATCH && t && t->kind == PL_KIND_TENSOR && t->rank == r && t->dims[0] == n;
}

static bool others_const(const ctx *c, int from) {
    for (int i = from; i < c->xn->n_in; i++)
        if (in_cls(c, i) != PL_VB_CONST) return false;
    return true;
}

/* Whether the node keeps axis 0 as the sample axis, given that some input is BATCH and none
 * is MIXED. */
static bool keeps_samples(const ctx *c) {
    const pl_xnode *xn = c->xn;
    const pl_node *nd = xn->node;
    const char *op = xn->op;
    const pl_tensor *x = in_shape(c, 0);
    const pl_tensor *y = xn->n_out > 0 && xn->out[0] >= 0 ? c->shape(c->user, xn->out[0]) : NULL;
    if (!y || y->kind != PL_KIND_TENSOR || y->rank < 1) return false;
    int r = y->rank;
    int64_t n = y->dims[0];
    int64_t ints[PL_MAX_RANK * 2 + 2];
    bool x0 = in_cls(c, 0) == PL_VB_BATCH && x && x->kind == PL_KIND_TENSOR && x->rank >= 1;

    if (pl_op_listed(op, per_sample_ops)) return x0 && x->dims[0] == n && others_const(c, 1);
    if (!strcmp(op, "Dropout") || !strcmp(op, "MaxPool") || !strcmp(op, "BatchNormalization")) {
        /* MaxPool's Indices count across the batch; BatchNormalization's extra outputs are
         * training statistics over it */
        for (int o = 1; o < xn->n_out; o++)
            if (xn->out[o] >= 0 && strcmp(op, "Dropout")) return false;
        return x0 && x->dims[0] == n && others_const(c, 1) && pl_attr_int(nd, "training_mode", 0) == 0;
    }
    if (pl_op_listed(op, broadcast_ops)) {
        for (int i = 0; i < xn->n_in; i++)
            if (!broadcasts(c, i, r, n)) return false;
        return true;
    }
    if (!strcmp(op, "Gemm"))
        return x0 && x->dims[0] == n && pl_attr_int(nd, "transA", 0) == 0 && others_const(c, 1) &&
               broadcasts(c, 2, r, n);
    if (!strcmp(op, "MatMul")) {
        const pl_tensor *b = in_shape(c, 1);
        int ka = in_cls(c, 0), kb = in_cls(c, 1);
        if (!x || !b || x->rank < 2 || b->rank < 2) return false;
        /* a constant matrix (rank 2) has no batch axes; a stacked constant must not carry N */
        if (ka == PL_VB_BATCH && x->rank == r && x->dims[0] == n &&
            (kb == PL_VB_CONST ? b->rank == 2 || b->rank < r || b->dims[0] == 1
                               : b->rank == r && b->dims[0] == n && r >= 3))
            return true;
        return ka == PL_VB_CONST && kb == PL_VB_BATCH && r >= 3 && b->rank == r && b->dims[0] == n &&
               (x->rank < r || x->dims[0] == 1);
    }
    if (!strcmp(op, "Flatten")) {
        int64_t axis = pl_attr_int(nd, "axis", 1);
        if (x0 && axis < 0) axis += x->rank;
        return x0 && axis >= 1 && x->dims[0] == n;
    }
    if (!strcmp(op, "Reshape")) {
        int k = x0 ? const_ints(in_const(c, 1), ints, PL_MAX_RANK) : -1;
        if (k < 1) return false;
        bool copy0 = ints[0] == 0 && pl_attr_int(nd, "allowzero", 0) == 0;
        return (copy0 || ints[0] == -1) && x->dims[0] == n && others_const(c, 1);
    }
    if (!strcmp(op, "Transpose")) {
        int k = 0;
        const int64_t *perm = pl_attr_ints(nd, "perm", &k);
        if (!x0) return false;
        return perm && k == r ? perm[0] == 0 : r == 1;
    }
    if (!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax") || !strcmp(op, "Hardmax") ||
        !strcmp(op, "LayerNormalization") || !strcmp(op, "ArgMax") || !strcmp(op, "ArgMin") ||
        !strcmp(op, "TopK") || !strcmp(op, "Split") || !strcmp(op, "CumSum")) {
        int64_t dflt = !strcmp(op, "LayerNormalization") || !strcmp(op, "TopK") ||
                               ((!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax") || !strcmp(op, "Hardmax")) && nd->opset >= 13)
                           ? -1
                       : !strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax") || !strcmp(op, "Hardmax") ? 1
                                                                                                         : 0;
        int64_t axis = pl_attr_int(nd, "axis", dflt);
        if (!strcmp(op, "CumSum")) {
            if (const_ints(in_const(c, 1), ints, 1) != 1) return false;
            axis = ints[0];
        }
        if (!x0 || axis_is0(axis, x->rank) || x->dims[0] != n) return false;
        /* ArgMax without keepdims, Split into several: outputs keep axis 0 as long as the
         * reduced or split axis is not 0 */
        return others_const(c, 1);
    }
    if (!strcmp(op, "Concat")) {
        int64_t axis = pl_attr_int(nd, "axis", 0);
        if (axis_is0(axis, r)) return false;
        for (int i = 0; i < xn->n_in; i++) {
            const pl_tensor *t = in_shape(c, i);
            if (in_cls(c, i) != PL_VB_BATCH || !t || t->rank != r || t->dims[0] != n) return false;
        }
        return true;
    }
    if (!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze")) {
        int k = 0;
        const int64_t *axes = pl_attr_ints(nd, "axes", &k);
        if (!axes && xn->n_in > 1) {
            k = const_ints(in_const(c, 1), ints, PL_MAX_RANK);
            axes = ints;
        }
        if (!x0 || !axes || k <= 0) return false; /* Squeeze of every 1: a chunk of 1 would lose axis 0 */
        return !has_axis0(axes, k, !strcmp(op, "Unsqueeze") ? r : x->rank) && x->dims[0] == n;
    }
    if (pl_op_listed(op, reduce_ops)) {
        int k = 0;
        const int64_t *axes = pl_attr_ints(nd, "axes", &k);
        if (!axes && xn->n_in > 1) {
            k = const_ints(in_const(c, 1), ints, PL_MAX_RANK);
            axes = ints;
        }
        if (!x0 || !axes || k <= 0) return false; /* every axis */
        return !has_axis0(axes, k, x->rank) && x->dims[0] == n && others_const(c, 1);
    }
    if (!strcmp(op, "Slice")) {
        if (!x0 || x->dims[0] != n || !others_const(c, 1)) return false;
        int64_t st[PL_MAX_RANK], en[PL_MAX_RANK], ax[PL_MAX_RANK], sp[PL_MAX_RANK];
        int k = const_ints(in_const(c, 1), st, PL_MAX_RANK);
        if (k < 0 || const_ints(in_const(c, 2), en, PL_MAX_RANK) != k) return false;
        int ka = in_const(c, 3) ? const_ints(in_const(c, 3), ax, PL_MAX_RANK) : k;
        int ks = in_const(c, 4) ? const_ints(in_const(c, 4), sp, PL_MAX_RANK) : k;
        if (ka != k || ks != k) return false;
        for (int i = 0; i < k; i++) {
            int64_t a = in_const(c, 3) ? ax[i] : i;
            int64_t s = in_const(c, 4) ? sp[i] : 1;
            /* axis 0 only taken whole */
            if (axis_is0(a, x->rank) && !(st[i] == 0 && s == 1 && en[i] >= x->dims[0])) return false;
        }
        return true;
    }
    if (!strcmp(op, "Pad")) {
        if (!x0 || x->dims[0] != n || !others_const(c, 1) || (xn->n_in > 3 && xn->in[3] >= 0)) return false;
        int k = 0;
        const int64_t *pads = pl_attr_ints(nd, "pads", &k);
        if (!pads && xn->n_in > 1) {
            k = const_ints(in_const(c, 1), ints, 2 * PL_MAX_RANK);
            pads = ints;
        }
        return pads && k == 2 * x->rank && pads[0] == 0 && pads[x->rank] == 0;
    }
    if (!strcmp(op, "Gather")) {
        int64_t axis = pl_attr_int(nd, "axis", 0);
        const pl_tensor *idx = in_shape(c, 1);
        if (in_cls(c, 0) == PL_VB_CONST && in_cls(c, 1) == PL_VB_BATCH) /* embedding lookup */
            return axis_is0(axis, in_shape(c, 0) ? in_shape(c, 0)->rank : 0) && idx && idx->rank >= 1 && idx->dims[0] == n;
        return x0 && in_cls(c, 1) == PL_VB_CONST && !axis_is0(axis, x->rank) && x->dims[0] == n;
    }
    if (!strcmp(op, "Resize") || !strcmp(op, "Upsample")) {
        /* scales that keep axis 0; sizes would name the batch */
        const pl_tensor *sz = xn->n_in > 3 ? in_const(c, 3) : NULL;
        if (!x0 || x->dims[0] != n || !others_const(c, 1) || (sz && sz->numel > 0)) return false;
        const pl_tensor *sc = in_const(c, !strcmp(op, "Upsample") ? 1 : 2);
        return sc && sc->dtype == PL_DT_FLOAT && sc->numel == x->rank && ((const float *)sc->data)[0] == 1.0f;
    }
    return false;
}

void pl_split_classify(const pl_xgraph *xg, const pl_xnode *xn, signed char *cls,
                       const pl_tensor *(*shape)(void *user, int v), void *user) {
    ctx c = {.xg = xg, .xn = xn, .cls = cls, .shape = shape, .user = user};
    const pl_node *nd = xn->node;
    int k = PL_VB_CONST;
    for (int i = 0; i < xn->n_in; i++) {
        int ki = in_cls(&c, i);
        if (ki > k) k = ki;
    }
    /* control flow reads outer values and random ops differ per call: never split */
    bool opaque = xn->n_outer > 0 || pl_op_listed(xn->op, pl_random_ops) || (nd->domain && nd->domain[0] && strcmp(nd->domain, "ai.onnx"));
    if (opaque) k = PL_VB_MIXED;
    else if (k == PL_VB_BATCH) k = keeps_samples(&c) ? PL_VB_BATCH : PL_VB_MIXED;
    /* fused post-ops: a residual of the same shape, or a broadcast operand */
    const pl_tensor *y = xn->n_out > 0 && xn->out[0] >= 0 ? shape(user, xn->out[0]) : NULL;
    for (int p = 0; p < xn->n_post && k != PL_VB_MIXED; p++) {
        int a = xn->post[p].arg;
        if (a < 0) continue;
        const pl_tensor *t = shape(user, a);
        if (cls[a] == PL_VB_UNSET) {
            k = PL_VB_MIXED;
        } else if (cls[a] == PL_VB_CONST) {
            if (k == PL_VB_BATCH && y && t && t->rank >= y->rank && t->dims[0] != 1) k = PL_VB_MIXED;
        } else if (!(cls[a] == PL_VB_BATCH && k == PL_VB_BATCH && y && t && t->rank == y->rank &&
                     t->dims[0] == y->dims[0])) {
            k = PL_VB_MIXED;
        }
    }
    for (int o = 0; o < xn->n_out; o++)
        if (xn->out[o] >= 0) cls[xn->out[o]] = (signed char)k;
}
