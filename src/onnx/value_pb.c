/* value_pb.c - sequences and optionals in .pb files (SequenceProto, OptionalProto). */
#include "onnx.h"

pl_status pl_value_load_pb(const char *path, pl_value_kind kind, pl_tensor **out) {
    *out = NULL;
    if (kind == PL_VALUE_TENSOR) return pl_tensor_load_pb(path, out);
    return pl_err(PL_ERR_UNSUPPORTED, "%s: reading SequenceProto/OptionalProto is not implemented yet", path);
}

pl_status pl_value_save_pb(const pl_tensor *v, pl_value_kind kind, const char *name,
                           const char *path) {
    if (v->kind == PL_KIND_TENSOR) return pl_tensor_save_pb(v, name, path);
    (void)kind;
    return pl_err(PL_ERR_UNSUPPORTED, "%s: writing SequenceProto/OptionalProto is not implemented yet", path);
}
