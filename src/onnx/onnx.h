/* onnx.h - ONNX protobuf <-> plaster IR and tensors. */
#ifndef PL_ONNX_H
#define PL_ONNX_H

#include "../ir/ir.h"
#include "onnx.pb-c.h"

/* Convert a TensorProto into a new tensor. `base_dir` (may be NULL) resolves external data;
 * `what` names the tensor in errors. */
pl_status pl_tensor_from_proto(const Onnx__TensorProto *tp, const char *base_dir,
                               const char *what, pl_tensor **out);
/* Model-local functions inlined into a node list: call nodes are replaced by the function's
 * body with names made unique per call. `nodes` is either the original array (nothing to
 * inline, `owned` NULL) or new nodes freed by pl_onnx_expansion_free. */
typedef struct pl_fn_expansion {
    Onnx__NodeProto **nodes;
    size_t n_nodes;
    void *owned; /* allocations to free */
} pl_fn_expansion;
pl_status pl_onnx_inline_functions(const Onnx__ModelProto *model, Onnx__NodeProto **nodes,
                                   size_t n_nodes, pl_fn_expansion *out);
void pl_onnx_expansion_free(pl_fn_expansion *x);

/* Parse a whole ONNX model from memory. */
pl_status pl_onnx_parse(const uint8_t *bytes, size_t size, const char *path,
                        const char *base_dir, pl_model **out);

#endif
