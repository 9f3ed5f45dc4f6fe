/* registry.c - the list of op family tables; pl_op_find looks an op up by domain and name. */
#include "ops.h"

#include <string.h>

extern const pl_op_schema pl_ops_elementwise[];
extern const pl_op_schema pl_ops_shape[];
extern const pl_op_schema pl_ops_index[];
extern const pl_op_schema pl_ops_reduce[];
extern const pl_op_schema pl_ops_conv[];
extern const pl_op_schema pl_ops_pool[];
extern const pl_op_schema pl_ops_gemm[];
extern const pl_op_schema pl_ops_norm[];
extern const pl_op_schema pl_ops_softmax[];
extern const pl_op_schema pl_ops_loss[];
extern const pl_op_schema pl_ops_rnn[];
extern const pl_op_schema pl_ops_control[];
extern const pl_op_schema pl_ops_sequence[];
extern const pl_op_schema pl_ops_quant[];
extern const pl_op_schema pl_ops_resize[];
extern const pl_op_schema pl_ops_misc[];
extern const pl_op_schema pl_ops_text[];

static const pl_op_schema *const families[] = {
    pl_ops_elementwise,
    pl_ops_shape,
    pl_ops_index,
    pl_ops_reduce,
    pl_ops_conv,
    pl_ops_pool,
    pl_ops_gemm,
    pl_ops_norm,
    pl_ops_softmax,
    pl_ops_loss,
    pl_ops_rnn,
    pl_ops_control,
    pl_ops_sequence,
    pl_ops_quant,
    pl_ops_resize,
    pl_ops_misc,
    pl_ops_text,
};

static int same_domain(const char *a, const char *b) {
    if (!a || !strcmp(a, "ai.onnx")) a = "";
    if (!b || !strcmp(b, "ai.onnx")) b = "";
    return strcmp(a, b) == 0;
}

const pl_op_schema *pl_op_find(const char *domain, const char *name) {
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const pl_op_schema *s = families[f]; s->name; s++)
            if (!strcmp(s->name, name) && same_domain(s->domain, domain)) return s;
    return NULL;
}
