/* fixed.c - which values are fixed by the input shapes? Exporters write the shape arithmetic
 * of a dynamic batch into the graph: Shape, Gather, Unsqueeze, Concat and a Reshape that
 * uses the result (a PyTorch Transformer encoder has 86 such nodes around 50 that compute).
 * Their results are the same in every run with the same input dtypes and dims, so the
 * executor computes them in the recording run of each signature, keeps them with its arena
 * plan, and skips their nodes afterwards (docs/ENGINE.md).
 *
 * The recording run classifies each value as it is computed:
 *   KNOWN  its shape follows from the input shapes: constants, graph inputs, and outputs of
 *          nodes whose inputs are KNOWN, unless the op's output shape depends on the values
 *          of an input that is not FIXED (Reshape's shape, Slice's starts, TopK's k, ...) or
 *          on the data (NonZero, Unique, control flow);
 *   FIXED  its content follows from the input shapes: constants, Shape or Size of a KNOWN
 *          value, and deterministic ops over FIXED inputs only.
 * The rules are conservative: an op whose output shape is only known to follow from its
 * input shapes when it is listed below; every other op needs FIXED inputs beyond input 0. */
#include "fixed.h"
#include "split.h"

#include <string.h>

/* Output shapes from the input shapes and attributes alone, whatever the inputs' values. */
static const char *const shape_by_shapes[] = {
    "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "Equal", "Less",
    "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Where", "BitShift", "PRelu",
    "MatMul", "Gemm", "Conv", "ConvTranspose", "BatchNormalization", "InstanceNormalization",
    "LayerNormalization", "GroupNormalization", "Gather", "GatherElements", "Concat", "Clip",
    "LSTM", "GRU", "RNN", "QuantizeLinear", "DequantizeLinear", NULL};

/* Output shapes that depend on input values whatever their class, and ops with subgraphs. */
static const char *const shape_by_data[] = {
    "NonZero", "Unique", "Compress", "NonMaxSuppression", "If", "Loop", "Scan", "StringSplit",
    NULL};

static int cls_of(const signed char *cls, int v) { return v < 0 ? PL_FX_KNOWN | PL_FX_FIXED : cls[v]; }

void pl_fixed_classify(const pl_xnode *xn, signed char *cls) {
    int out = 0;
    bool default_domain = !xn->node->domain[0];
    if (default_domain && !xn->n_outer && !pl_op_listed(xn->op, shape_by_data)) {
        bool all_known = true, all_fixed = true, rest_fixed = true;
        int present = 0;
        for (int i = 0; i < xn->n_in; i++) {
            int c = cls_of(cls, xn->in[i]);
            present += xn->in[i] >= 0;
            all_known &= (c & PL_FX_KNOWN) != 0;
            all_fixed &= (c & PL_FX_FIXED) != 0;
            if (i > 0) rest_fixed &= (c & PL_FX_FIXED) != 0;
        }
        for (int p = 0; p < xn->n_post; p++) {
            int c = cls_of(cls, xn->post[p].arg);
            all_known &= (c & PL_FX_KNOWN) != 0;
            all_fixed &= (c & PL_FX_FIXED) != 0;
            rest_fixed &= (c & PL_FX_FIXED) != 0;
        }
        if (all_known && (rest_fixed || pl_op_listed(xn->op, shape_by_shapes))) out |= PL_FX_KNOWN;
        bool shape_op = !strcmp(xn->op, "Shape") || !strcmp(xn->op, "Size");
        bool random = pl_op_listed(xn->op, pl_random_ops) || !strcmp(xn->op, "Dropout"); /* when training */
        if (shape_op && xn->n_in >= 1 && (cls_of(cls, xn->in[0]) & PL_FX_KNOWN)) out = PL_FX_KNOWN | PL_FX_FIXED;
        else if (present > 0 && all_fixed && !random) out = PL_FX_KNOWN | PL_FX_FIXED;
    }
    for (int o = 0; o < xn->n_out; o++)
        if (xn->out[o] >= 0) cls[xn->out[o]] = (signed char)out;
}
