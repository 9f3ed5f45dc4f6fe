/* onnx.h - ONNX protobuf <-> plaster IR and tensors. */
#ifndef PL_ONNX_H
#define PL_ONNX_H

#include "../ir/ir.h"
#include "onnx.pb-c.h"

/* Convert a TensorProto into a new tensor. `base_dir` (may be NULL) resolves external data;
 * `what` names the tensor in errors. */
pl_status pl_tensor_from_proto(const Onnx__TensorProto *tp, const char *base_dir,
                               const char *what, pl_tensor **out);
/* Parse a whole ONNX model from memory. */
pl_status pl_onnx_parse(const uint8_t *bytes, size_t size, const char *path,
                        const char *base_dir, pl_model **out);

#endif
