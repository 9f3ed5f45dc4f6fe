/* value_pb.c - sequences and optionals in .pb files (SequenceProto, OptionalProto of
 * onnx-data.proto), as the ONNX backend tests store them. Sequences of tensors (and of
 * sequences) become tensors of kind PL_KIND_SEQUENCE; an empty optional is PL_KIND_NONE. */
#include "onnx.h"
#include "onnx-data.pb-c.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NESTING 32

/* ---- reading ---- */

static pl_status seq_from_proto(const Onnx__SequenceProto *sp, const char *dir, const char *what,
                                int depth, pl_tensor **out);

/* The value an OptionalProto holds: a tensor, a sequence, or an empty optional. */
static pl_status optional_from_proto(const Onnx__OptionalProto *op, const char *dir,
                                     const char *what, int depth, pl_tensor **out) {
    *out = NULL;
    if (depth > MAX_NESTING)
        return pl_err(PL_ERR_INVALID, "%s: values nest deeper than %d levels", what, MAX_NESTING);
    int et = op->has_elem_type ? op->elem_type : 0;
    switch (et) {
    case ONNX__OPTIONAL_PROTO__DATA_TYPE__UNDEFINED: return pl_tensor_none(out);
    case ONNX__OPTIONAL_PROTO__DATA_TYPE__TENSOR:
        if (!op->tensor_value) return pl_tensor_none(out);
        return pl_tensor_from_proto(op->tensor_value, dir, what, out);
    case ONNX__OPTIONAL_PROTO__DATA_TYPE__SEQUENCE:
        if (!op->sequence_value) return pl_tensor_none(out);
        return seq_from_proto(op->sequence_value, dir, what, depth + 1, out);
    case ONNX__OPTIONAL_PROTO__DATA_TYPE__OPTIONAL:
        if (!op->optional_value) return pl_tensor_none(out);
        return optional_from_proto(op->optional_value, dir, what, depth + 1, out);
    case ONNX__OPTIONAL_PROTO__DATA_TYPE__SPARSE_TENSOR:
    case ONNX__OPTIONAL_PROTO__DATA_TYPE__MAP:
        return pl_err(PL_ERR_UNSUPPORTED, "%s: optional of elem_type %d (sparse tensor or map) is not supported",
                      what, et);
    default:
        return pl_err(PL_ERR_INVALID, "%s: OptionalProto elem_type %d is not a valid value", what, et);
    }
}

/* Item i of a SequenceProto whose items are tensors, sequences or optionals. */
static pl_status seq_item(const Onnx__SequenceProto *sp, int et, size_t i, const char *dir,
                          const char *what, int depth, pl_tensor **out) {
    if (et == ONNX__SEQUENCE_PROTO__DATA_TYPE__TENSOR)
        return pl_tensor_from_proto(sp->tensor_values[i], dir, what, out);
    if (et == ONNX__SEQUENCE_PROTO__DATA_TYPE__SEQUENCE)
        return seq_from_proto(sp->sequence_values[i], dir, what, depth + 1, out);
    return optional_from_proto(sp->optional_values[i], dir, what, depth + 1, out);
}

static pl_status seq_from_proto(const Onnx__SequenceProto *sp, const char *dir, const char *what,
                                int depth, pl_tensor **out) {
    *out = NULL;
    if (depth > MAX_NESTING)
        return pl_err(PL_ERR_INVALID, "%s: values nest deeper than %d levels", what, MAX_NESTING);
    int et = sp->has_elem_type ? sp->elem_type : 0;
    if (sp->n_sparse_tensor_values || sp->n_map_values || et == ONNX__SEQUENCE_PROTO__DATA_TYPE__MAP ||
        et == ONNX__SEQUENCE_PROTO__DATA_TYPE__SPARSE_TENSOR)
        return pl_err(PL_ERR_UNSUPPORTED, "%s: sequences of sparse tensors or maps are not supported", what);
    if (et == ONNX__SEQUENCE_PROTO__DATA_TYPE__UNDEFINED) /* infer from the filled field */
        et = sp->n_sequence_values   ? ONNX__SEQUENCE_PROTO__DATA_TYPE__SEQUENCE
             : sp->n_optional_values ? ONNX__SEQUENCE_PROTO__DATA_TYPE__OPTIONAL
                                     : ONNX__SEQUENCE_PROTO__DATA_TYPE__TENSOR;
    size_t n = et == ONNX__SEQUENCE_PROTO__DATA_TYPE__TENSOR     ? sp->n_tensor_values
               : et == ONNX__SEQUENCE_PROTO__DATA_TYPE__SEQUENCE ? sp->n_sequence_values
               : et == ONNX__SEQUENCE_PROTO__DATA_TYPE__OPTIONAL ? sp->n_optional_values
                                                                 : (size_t)-1;
    if (n == (size_t)-1)
        return pl_err(PL_ERR_INVALID, "%s: SequenceProto elem_type %d is not a valid value", what, et);
    if (n != sp->n_tensor_values + sp->n_sequence_values + sp->n_optional_values)
        return pl_err(PL_ERR_INVALID, "%s: SequenceProto elem_type %d does not match the values it holds",
                      what, et);
    if (n > INT_MAX / 2) return pl_err(PL_ERR_INVALID, "%s: sequence of %zu items is too long", what, n);
    pl_tensor **items = calloc(n ? n : 1, sizeof *items);
    if (!items) return pl_err(PL_ERR_NOMEM, "out of memory");
    pl_status st = PL_OK;
    for (size_t i = 0; i < n && st == PL_OK; i++) st = seq_item(sp, et, i, dir, what, depth, &items[i]);
    if (st == PL_OK) st = pl_tensor_seq_create((int)n, items, out);
    if (st != PL_OK)
        for (size_t i = 0; i < n; i++) pl_tensor_destroy(items[i]);
    free(items);
    return st;
}

/* The folder of `path` (for external data), "." when it has none. */
static void dir_of(const char *path, char *dir, size_t size) {
    snprintf(dir, size, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, size, ".");
}

pl_status pl_value_load_pb(const char *path, pl_value_kind kind, pl_tensor **out) {
    *out = NULL;
    if (kind == PL_VALUE_TENSOR) return pl_tensor_load_pb(path, out);
    if (kind != PL_VALUE_SEQUENCE && kind != PL_VALUE_OPTIONAL)
        return pl_err(PL_ERR_INVALID, "%s: unknown value kind %d", path, (int)kind);
    void *buf;
    size_t size;
    PL_TRY(pl_read_file(path, &buf, &size));
    char dir[PATH_MAX];
    dir_of(path, dir, sizeof dir);
    pl_status st;
    if (kind == PL_VALUE_SEQUENCE) {
        Onnx__SequenceProto *sp = onnx__sequence_proto__unpack(NULL, size, buf);
        if (!sp) st = pl_err(PL_ERR_INVALID, "%s: not a valid ONNX SequenceProto (protobuf parse failed)", path);
        else {
            st = seq_from_proto(sp, dir, path, 0, out);
            onnx__sequence_proto__free_unpacked(sp, NULL);
        }
    } else {
        Onnx__OptionalProto *op = onnx__optional_proto__unpack(NULL, size, buf);
        if (!op) st = pl_err(PL_ERR_INVALID, "%s: not a valid ONNX OptionalProto (protobuf parse failed)", path);
        else {
            st = optional_from_proto(op, dir, path, 0, out);
            onnx__optional_proto__free_unpacked(op, NULL);
        }
    }
    free(buf);
    return st;
}

/* ---- writing ----
 * The messages built here borrow the tensors' data; free_* releases only what was malloc'ed. */

static void free_tensor_msg(Onnx__TensorProto *tp) {
    if (!tp) return;
    free(tp->string_data);
    free(tp);
}

static void free_seq_msg(Onnx__SequenceProto *sp);

static void free_opt_msg(Onnx__OptionalProto *op) {
    if (!op) return;
    free_tensor_msg(op->tensor_value);
    free_seq_msg(op->sequence_value);
    free(op);
}

static void free_seq_msg(Onnx__SequenceProto *sp) {
    if (!sp) return;
    for (size_t i = 0; i < sp->n_tensor_values; i++) free_tensor_msg(sp->tensor_values[i]);
    for (size_t i = 0; i < sp->n_sequence_values; i++) free_seq_msg(sp->sequence_values[i]);
    for (size_t i = 0; i < sp->n_optional_values; i++) free_opt_msg(sp->optional_values[i]);
    free(sp->tensor_values);
    free(sp->sequence_values);
    free(sp->optional_values);
    free(sp);
}

/* A TensorProto viewing t's data (raw_data; string_data for strings). */
static pl_status tensor_msg(const pl_tensor *t, Onnx__TensorProto **out) {
    *out = NULL;
    Onnx__TensorProto *tp = malloc(sizeof *tp);
    if (!tp) return pl_err(PL_ERR_NOMEM, "out of memory");
    onnx__tensor_proto__init(tp);
    tp->n_dims = (size_t)t->rank;
    tp->dims = (int64_t *)t->dims;
    tp->has_data_type = 1;
    tp->data_type = (int32_t)t->dtype;
    if (t->dtype == PL_DT_STRING) {
        ProtobufCBinaryData *strs = calloc((size_t)(t->numel ? t->numel : 1), sizeof *strs);
        if (!strs) {
            free(tp);
            return pl_err(PL_ERR_NOMEM, "out of memory");
        }
        char *const *s = t->data;
        for (int64_t i = 0; i < t->numel; i++) {
            strs[i].data = (uint8_t *)(s[i] ? s[i] : "");
            strs[i].len = strlen((const char *)strs[i].data);
        }
        tp->n_string_data = (size_t)t->numel;
        tp->string_data = strs;
    } else {
        tp->has_raw_data = 1;
        tp->raw_data.data = t->data;
        tp->raw_data.len = t->nbytes;
    }
    *out = tp;
    return PL_OK;
}

static pl_status opt_msg(const pl_tensor *v, int depth, Onnx__OptionalProto **out);

/* A SequenceProto for a sequence value; items are tensors, sequences or empty optionals. */
static pl_status seq_msg(const pl_tensor *v, int depth, Onnx__SequenceProto **out) {
    *out = NULL;
    if (depth > MAX_NESTING)
        return pl_err(PL_ERR_INVALID, "values nest deeper than %d levels", MAX_NESTING);
    Onnx__SequenceProto *sp = malloc(sizeof *sp);
    if (!sp) return pl_err(PL_ERR_NOMEM, "out of memory");
    onnx__sequence_proto__init(sp);
    sp->has_elem_type = 1;
    sp->elem_type = ONNX__SEQUENCE_PROTO__DATA_TYPE__TENSOR;
    int n = v->seq_len;
    for (int i = 0; i < n; i++) /* all items share one kind; the first decides */
        if (v->seq[i]->kind != v->seq[0]->kind) {
            free(sp);
            return pl_err(PL_ERR_INVALID, "sequence items %d and 0 are of different kinds", i);
        }
    if (n > 0 && v->seq[0]->kind == PL_KIND_SEQUENCE)
        sp->elem_type = ONNX__SEQUENCE_PROTO__DATA_TYPE__SEQUENCE;
    else if (n > 0 && v->seq[0]->kind == PL_KIND_NONE)
        sp->elem_type = ONNX__SEQUENCE_PROTO__DATA_TYPE__OPTIONAL;
    void **slots = calloc(n > 0 ? (size_t)n : 1, sizeof(void *));
    if (!slots) {
        free(sp);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    if (sp->elem_type == ONNX__SEQUENCE_PROTO__DATA_TYPE__TENSOR) sp->tensor_values = (Onnx__TensorProto **)slots;
    else if (sp->elem_type == ONNX__SEQUENCE_PROTO__DATA_TYPE__SEQUENCE) sp->sequence_values = (Onnx__SequenceProto **)slots;
    else sp->optional_values = (Onnx__OptionalProto **)slots;
    pl_status st = PL_OK;
    for (int i = 0; i < n && st == PL_OK; i++) {
        if (sp->elem_type == ONNX__SEQUENCE_PROTO__DATA_TYPE__TENSOR) {
            st = tensor_msg(v->seq[i], &sp->tensor_values[i]);
            sp->n_tensor_values = (size_t)i + 1;
        } else if (sp->elem_type == ONNX__SEQUENCE_PROTO__DATA_TYPE__SEQUENCE) {
            st = seq_msg(v->seq[i], depth + 1, &sp->sequence_values[i]);
            sp->n_sequence_values = (size_t)i + 1;
        } else {
            st = opt_msg(v->seq[i], depth + 1, &sp->optional_values[i]);
            sp->n_optional_values = (size_t)i + 1;
        }
    }
    if (st != PL_OK) {
        free_seq_msg(sp);
        return st;
    }
    *out = sp;
    return PL_OK;
}

/* An OptionalProto holding v (nothing when v is an empty optional). */
static pl_status opt_msg(const pl_tensor *v, int depth, Onnx__OptionalProto **out) {
    *out = NULL;
    Onnx__OptionalProto *op = malloc(sizeof *op);
    if (!op) return pl_err(PL_ERR_NOMEM, "out of memory");
    onnx__optional_proto__init(op);
    op->has_elem_type = 1;
    pl_status st = PL_OK;
    if (v->kind == PL_KIND_NONE) {
        op->elem_type = ONNX__OPTIONAL_PROTO__DATA_TYPE__UNDEFINED;
    } else if (v->kind == PL_KIND_SEQUENCE) {
        op->elem_type = ONNX__OPTIONAL_PROTO__DATA_TYPE__SEQUENCE;
        st = seq_msg(v, depth + 1, &op->sequence_value);
    } else {
        op->elem_type = ONNX__OPTIONAL_PROTO__DATA_TYPE__TENSOR;
        st = tensor_msg(v, &op->tensor_value);
    }
    if (st != PL_OK) {
        free_opt_msg(op);
        return st;
    }
    *out = op;
    return PL_OK;
}

static pl_status write_bytes(const char *path, const uint8_t *buf, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return pl_err(PL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    size_t wrote = fwrite(buf, 1, len, f);
    if (fclose(f) != 0 || wrote != len) return pl_err(PL_ERR_IO, "%s: write failed", path);
    return PL_OK;
}

pl_status pl_value_save_pb(const pl_tensor *v, pl_value_kind kind, const char *name,
                           const char *path) {
    if (kind == PL_VALUE_TENSOR && v->kind == PL_KIND_TENSOR) return pl_tensor_save_pb(v, name, path);
    if (kind == PL_VALUE_SEQUENCE && v->kind == PL_KIND_TENSOR)
        return pl_err(PL_ERR_INVALID, "%s: a sequence value was expected, got a tensor", path);
    ProtobufCMessage *msg = NULL;
    pl_status st;
    if (kind == PL_VALUE_OPTIONAL || v->kind == PL_KIND_NONE) {
        Onnx__OptionalProto *op;
        st = opt_msg(v, 0, &op);
        if (st == PL_OK) {
            op->name = (char *)(name ? name : "");
            msg = &op->base;
        }
    } else {
        Onnx__SequenceProto *sp;
        st = seq_msg(v, 0, &sp);
        if (st == PL_OK) {
            sp->name = (char *)(name ? name : "");
            msg = &sp->base;
        }
    }
    if (st != PL_OK) return pl_err_prefix(st, "%s", path);
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) st = pl_err(PL_ERR_NOMEM, "out of memory");
    else {
        protobuf_c_message_pack(msg, buf);
        st = write_bytes(path, buf, len);
    }
    free(buf);
    if (msg->descriptor == &onnx__optional_proto__descriptor) free_opt_msg((Onnx__OptionalProto *)msg);
    else free_seq_msg((Onnx__SequenceProto *)msg);
    return st;
}
