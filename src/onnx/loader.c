/* loader.c - ONNX ModelProto -> plaster IR (graphs, nodes, attributes, subgraphs). */
#include "onnx.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct load_ctx {
    const char *base_dir;          /* resolves external data */
    const Onnx__ModelProto *model; /* its model-local functions are inlined */
} load_ctx;

static pl_status load_graph(const Onnx__GraphProto *gp, pl_graph *parent, const load_ctx *lc,
                            pl_graph **out);

static pl_status type_info(const Onnx__TypeProto *tp, const char *what, pl_value_info *info) {
    info->rank = -1;
    info->dtype = PL_DT_UNDEFINED;
    info->kind = PL_KIND_TENSOR;
    if (!tp) return PL_OK;
    switch (tp->value_case) {
    case ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE: {
        const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
        if (tt->has_elem_type) info->dtype = (pl_dtype)tt->elem_type;
        if (tt->shape) {
            if (tt->shape->n_dim > PL_MAX_RANK)
                return pl_err(PL_ERR_INVALID, "%s: rank %zu exceeds the maximum %d", what,
                              tt->shape->n_dim, PL_MAX_RANK);
            info->rank = (int)tt->shape->n_dim;
            for (int d = 0; d < info->rank; d++) {
                const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
                info->dims[d] = -1;
                if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
                    if (dim->dim_value < 0)
                        return pl_err(PL_ERR_INVALID, "%s: dim %d is negative (%lld)", what, d,
                                      (long long)dim->dim_value);
                    info->dims[d] = dim->dim_value;
                } else if (dim->value_case ==
                           ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM) {
                    info->symbols[d] = pl_strdup(dim->dim_param);
                    if (!info->symbols[d]) return pl_err(PL_ERR_NOMEM, "out of memory");
                }
            }
        }
        break;
    }
    case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE:
        info->kind = PL_KIND_SEQUENCE;
        if (tp->sequence_type->elem_type &&
            tp->sequence_type->elem_type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE &&
            tp->sequence_type->elem_type->tensor_type->has_elem_type)
            info->dtype = (pl_dtype)tp->sequence_type->elem_type->tensor_type->elem_type;
        break;
    case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE: {
        pl_status st = type_info(tp->optional_type->elem_type, what, info);
        if (st != PL_OK) return st;
        info->optional = true;
        break;
    }
    default: break; /* maps, sparse: described as unknown */
    }
    return PL_OK;
}

static int type_elem(const Onnx__TypeProto *tp) {
    while (tp) {
        if (tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
            return tp->tensor_type->has_elem_type ? tp->tensor_type->elem_type : 0;
        if (tp->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE) tp = tp->sequence_type->elem_type;
        else if (tp->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE) tp = tp->optional_type->elem_type;
        else return 0;
    }
    return 0;
}

static char *bytes_dup(const ProtobufCBinaryData *b) {
    char *s = malloc(b->len + 1);
    if (!s) return NULL;
    if (b->len) memcpy(s, b->data, b->len);
    s[b->len] = 0;
    return s;
}

static pl_status load_attr(const Onnx__AttributeProto *ap, pl_graph *g, const load_ctx *lc,
                           const char *node_what, pl_attr *a) {
    memset(a, 0, sizeof *a);
    a->name = pl_strdup(ap->name);
    if (!a->name) return pl_err(PL_ERR_NOMEM, "out of memory");
    char what[512];
    snprintf(what, sizeof what, "%s: attribute '%s'", node_what, ap->name ? ap->name : "");
    if (ap->ref_attr_name && ap->ref_attr_name[0])
        return pl_err(PL_ERR_UNSUPPORTED, "%s refers to a function attribute", what);
    int type = ap->has_type ? (int)ap->type : 0;
    if (type == 0) { /* IR < 3 had no type field: infer from what is set */
        if (ap->g) type = PL_ATTR_GRAPH;
        else if (ap->t) type = PL_ATTR_TENSOR;
        else if (ap->n_floats) type = PL_ATTR_FLOATS;
        else if (ap->n_ints) type = PL_ATTR_INTS;
        else if (ap->n_strings) type = PL_ATTR_STRINGS;
        else if (ap->n_graphs) type = PL_ATTR_GRAPHS;
        else if (ap->n_tensors) type = PL_ATTR_TENSORS;
        else if (ap->has_s) type = PL_ATTR_STRING;
        else if (ap->has_f) type = PL_ATTR_FLOAT;
        else if (ap->has_i) type = PL_ATTR_INT;
        else return pl_err(PL_ERR_INVALID, "%s has no type and no value", what);
    }
    a->type = (pl_attr_type)type;
    switch (a->type) {
    case PL_ATTR_FLOAT: a->f = ap->f; break;
    case PL_ATTR_INT: a->i = ap->i; break;
    case PL_ATTR_STRING:
        a->s = bytes_dup(&ap->s);
        if (!a->s) return pl_err(PL_ERR_NOMEM, "out of memory");
        a->s_len = ap->s.len;
        break;
    case PL_ATTR_TENSOR:
        if (!ap->t) return pl_err(PL_ERR_INVALID, "%s is of type TENSOR but holds none", what);
        return pl_tensor_from_proto(ap->t, lc->base_dir, what, &a->t);
    case PL_ATTR_GRAPH:
        if (!ap->g) return pl_err(PL_ERR_INVALID, "%s is of type GRAPH but holds none", what);
    {
        pl_status st = load_graph(ap->g, g, lc, &a->g);
        return st == PL_OK ? PL_OK : pl_err_prefix(st, "%s", what);
    }
    case PL_ATTR_FLOATS:
        a->n = (int)ap->n_floats;
        a->floats = malloc((ap->n_floats ? ap->n_floats : 1) * sizeof(float));
        if (!a->floats) return pl_err(PL_ERR_NOMEM, "out of memory");
        if (ap->n_floats) memcpy(a->floats, ap->floats, ap->n_floats * sizeof(float));
        break;
    case PL_ATTR_INTS:
        a->n = (int)ap->n_ints;
        a->ints = malloc((ap->n_ints ? ap->n_ints : 1) * sizeof(int64_t));
        if (!a->ints) return pl_err(PL_ERR_NOMEM, "out of memory");
        if (ap->n_ints) memcpy(a->ints, ap->ints, ap->n_ints * sizeof(int64_t));
        break;
    case PL_ATTR_STRINGS:
        a->strings = calloc(ap->n_strings ? ap->n_strings : 1, sizeof(char *));
        if (!a->strings) return pl_err(PL_ERR_NOMEM, "out of memory");
        a->n = (int)ap->n_strings;
        for (size_t i = 0; i < ap->n_strings; i++) {
            a->strings[i] = bytes_dup(&ap->strings[i]);
            if (!a->strings[i]) return pl_err(PL_ERR_NOMEM, "out of memory");
        }
        break;
    case PL_ATTR_TENSORS:
        a->tensors = calloc(ap->n_tensors ? ap->n_tensors : 1, sizeof(pl_tensor *));
        if (!a->tensors) return pl_err(PL_ERR_NOMEM, "out of memory");
        a->n = (int)ap->n_tensors;
        for (size_t i = 0; i < ap->n_tensors; i++)
            PL_TRY(pl_tensor_from_proto(ap->tensors[i], lc->base_dir, what, &a->tensors[i]));
        break;
    case PL_ATTR_GRAPHS:
        a->graphs = calloc(ap->n_graphs ? ap->n_graphs : 1, sizeof(pl_graph *));
        if (!a->graphs) return pl_err(PL_ERR_NOMEM, "out of memory");
        a->n = (int)ap->n_graphs;
        for (size_t i = 0; i < ap->n_graphs; i++)
            PL_TRY(load_graph(ap->graphs[i], g, lc, &a->graphs[i]));
        break;
    case PL_ATTR_TYPE_PROTO: a->type_elem = type_elem(ap->tp); break;
    case PL_ATTR_SPARSE_TENSOR:
    case PL_ATTR_SPARSE_TENSORS:
    case PL_ATTR_TYPE_PROTOS: break; /* kept by type; kernels that need them refuse */
    default: return pl_err(PL_ERR_INVALID, "%s has unknown type %d", what, type);
    }
    return PL_OK;
}

static pl_status value_list(pl_graph *g, Onnx__ValueInfoProto *const *vi, size_t n,
                            const char *what, int **out, int *count) {
    *out = calloc(n ? n : 1, sizeof(int));
    if (!*out) return pl_err(PL_ERR_NOMEM, "out of memory");
    *count = (int)n;
    for (size_t i = 0; i < n; i++) {
        const char *name = vi[i]->name ? vi[i]->name : "";
        if (!name[0]) return pl_err(PL_ERR_INVALID, "graph %s %zu has an empty name", what, i);
        int v;
        PL_TRY(pl_graph_value(g, name, &v));
        (*out)[i] = v;
        char desc[512];
        snprintf(desc, sizeof desc, "graph %s '%s'", what, name);
        pl_value_info info;
        memset(&info, 0, sizeof info);
        pl_status st = type_info(vi[i]->type, desc, &info);
        if (st != PL_OK) {
            for (int d = 0; d < PL_MAX_RANK; d++) free(info.symbols[d]);
            return st;
        }
        for (int d = 0; d < PL_MAX_RANK; d++) free(g->values[v].info.symbols[d]);
        g->values[v].info = info;
    }
    return PL_OK;
}

static pl_status load_node(const Onnx__NodeProto *np, int index, pl_graph *g,
                           const load_ctx *lc, pl_node *n) {
    memset(n, 0, sizeof *n);
    char genname[64];
    snprintf(genname, sizeof genname, "#%d", index);
    n->name = pl_strdup(np->name && np->name[0] ? np->name : genname);
    n->op_type = pl_strdup(np->op_type ? np->op_type : "");
    n->domain = pl_strdup(np->domain ? np->domain : "");
    if (!n->name || !n->op_type || !n->domain) return pl_err(PL_ERR_NOMEM, "out of memory");
    char what[512];
    snprintf(what, sizeof what, "node '%s' (%s)", n->name, n->op_type);
    if (!n->op_type[0]) return pl_err(PL_ERR_INVALID, "%s: op_type is empty", what);
    n->in = calloc(np->n_input ? np->n_input : 1, sizeof(int));
    n->out = calloc(np->n_output ? np->n_output : 1, sizeof(int));
    n->attrs = calloc(np->n_attribute ? np->n_attribute : 1, sizeof(pl_attr));
    if (!n->in || !n->out || !n->attrs) return pl_err(PL_ERR_NOMEM, "out of memory");
    n->n_in = (int)np->n_input;
    n->n_out = (int)np->n_output;
    for (size_t i = 0; i < np->n_input; i++) {
        n->in[i] = -1;
        if (np->input[i] && np->input[i][0]) PL_TRY(pl_graph_value(g, np->input[i], &n->in[i]));
    }
    for (size_t i = 0; i < np->n_output; i++) {
        n->out[i] = -1;
        if (np->output[i] && np->output[i][0]) PL_TRY(pl_graph_value(g, np->output[i], &n->out[i]));
    }
    for (size_t i = 0; i < np->n_attribute; i++) {
        n->n_attr = (int)i + 1;
        PL_TRY(load_attr(np->attribute[i], g, lc, what, &n->attrs[i]));
    }
    return PL_OK;
}

static pl_status load_graph(const Onnx__GraphProto *gp, pl_graph *parent, const load_ctx *lc,
                            pl_graph **out) {
    *out = NULL;
    pl_graph *g = pl_graph_new(parent);
    if (!g) return pl_err(PL_ERR_NOMEM, "out of memory");
    pl_status st = PL_OK;
    g->name = pl_strdup(gp->name ? gp->name : "");
    if (!g->name) st = pl_err(PL_ERR_NOMEM, "out of memory");
    if (st == PL_OK) st = value_list(g, gp->input, gp->n_input, "input", &g->inputs, &g->n_inputs);
    if (st == PL_OK)
        st = value_list(g, gp->output, gp->n_output, "output", &g->outputs, &g->n_outputs);
    if (st == PL_OK && gp->n_sparse_initializer)
        st = pl_err(PL_ERR_UNSUPPORTED, "graph '%s': sparse initializers are not supported", g->name);
    for (size_t i = 0; st == PL_OK && i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        const char *name = tp->name ? tp->name : "";
        char what[512];
        snprintf(what, sizeof what, "initializer '%s'", name);
        if (!name[0]) {
            st = pl_err(PL_ERR_INVALID, "initializer %zu has an empty name", i);
            break;
        }
        int v;
        st = pl_graph_value(g, name, &v);
        if (st != PL_OK) break;
        if (g->values[v].init) {
            st = pl_err(PL_ERR_INVALID, "%s is defined twice", what);
            break;
        }
        st = pl_tensor_from_proto(tp, lc->base_dir, what, &g->values[v].init);
        if (st == PL_OK && g->values[v].info.dtype == PL_DT_UNDEFINED) {
            pl_value_info *info = &g->values[v].info;
            info->dtype = g->values[v].init->dtype;
            info->rank = g->values[v].init->rank;
            memcpy(info->dims, g->values[v].init->dims, sizeof info->dims);
        }
    }
    pl_fn_expansion fx = {.nodes = gp->node, .n_nodes = gp->n_node};
    if (st == PL_OK && lc->model && lc->model->n_functions)
        st = pl_onnx_inline_functions(lc->model, gp->node, gp->n_node, &fx);
    if (st == PL_OK) {
        g->nodes = calloc(fx.n_nodes ? fx.n_nodes : 1, sizeof(pl_node));
        if (!g->nodes) st = pl_err(PL_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; st == PL_OK && i < fx.n_nodes; i++) {
        g->n_nodes = (int)i + 1;
        st = load_node(fx.nodes[i], (int)i, g, lc, &g->nodes[i]);
    }
    pl_onnx_expansion_free(&fx);
    for (size_t i = 0; st == PL_OK && i < gp->n_value_info; i++) {
        const Onnx__ValueInfoProto *vi = gp->value_info[i];
        if (!vi->name || !vi->name[0]) continue;
        int v = pl_strmap_get(&g->names, vi->name);
        if (v < 0 || g->values[v].info.dtype != PL_DT_UNDEFINED) continue;
        pl_value_info info;
        memset(&info, 0, sizeof info);
        char what[512];
        snprintf(what, sizeof what, "value_info '%s'", vi->name);
        st = type_info(vi->type, what, &info);
        for (int d = 0; d < PL_MAX_RANK; d++) free(g->values[v].info.symbols[d]);
        g->values[v].info = info;
    }
    if (st == PL_OK) st = pl_graph_finish(g);
    if (st != PL_OK) {
        pl_graph_free(g);
        return st;
    }
    *out = g;
    return PL_OK;
}

static pl_status load_model(const Onnx__ModelProto *mp, pl_model *m) {
    m->ir_version = mp->has_ir_version ? mp->ir_version : 0;
    char prod[512];
    snprintf(prod, sizeof prod, "%s%s%s", mp->producer_name ? mp->producer_name : "",
             mp->producer_version && mp->producer_version[0] ? " " : "",
             mp->producer_version ? mp->producer_version : "");
    m->producer = pl_strdup(prod);
    m->domain = pl_strdup(mp->domain);
    m->doc = pl_strdup(mp->doc_string);
    m->model_version = mp->has_model_version ? mp->model_version : 0;
    if (!m->producer || !m->domain || !m->doc) return pl_err(PL_ERR_NOMEM, "out of memory");
    m->opsets = calloc(mp->n_opset_import ? mp->n_opset_import : 1, sizeof *m->opsets);
    if (!m->opsets) return pl_err(PL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const char *d = mp->opset_import[i]->domain ? mp->opset_import[i]->domain : "";
        m->opsets[i].domain = pl_strdup(d);
        if (!m->opsets[i].domain) return pl_err(PL_ERR_NOMEM, "out of memory");
        m->opsets[i].version = mp->opset_import[i]->has_version ? mp->opset_import[i]->version : 1;
        m->n_opsets = (int)i + 1;
        bool known = !d[0] || !strcmp(d, "ai.onnx") || !strcmp(d, "ai.onnx.ml") ||
                     !strcmp(d, "ai.onnx.preview.training") || !strcmp(d, "com.microsoft");
        for (size_t f = 0; f < mp->n_functions && !known; f++)
            known = mp->functions[f]->domain && !strcmp(mp->functions[f]->domain, d);
        if (!known)
            return pl_err(PL_ERR_UNSUPPORTED, "opset_import: unknown operator set domain '%s' (version %lld)",
                          d, (long long)m->opsets[i].version);
    }
    m->meta_keys = calloc(mp->n_metadata_props ? mp->n_metadata_props : 1, sizeof(char *));
    m->meta_values = calloc(mp->n_metadata_props ? mp->n_metadata_props : 1, sizeof(char *));
    if (!m->meta_keys || !m->meta_values) return pl_err(PL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < mp->n_metadata_props; i++) {
        m->meta_keys[i] = pl_strdup(mp->metadata_props[i]->key);
        m->meta_values[i] = pl_strdup(mp->metadata_props[i]->value);
        m->n_meta = (int)i + 1;
        if (!m->meta_keys[i] || !m->meta_values[i]) return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    if (!mp->graph) return pl_err(PL_ERR_INVALID, "the model has no graph");
    load_ctx lc = {.base_dir = m->base_dir, .model = mp};
    PL_TRY(load_graph(mp->graph, NULL, &lc, &m->graph));
    pl_graph *g = m->graph;
    m->real_inputs = calloc(g->n_inputs ? (size_t)g->n_inputs : 1, sizeof(int));
    if (!m->real_inputs) return pl_err(PL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n_inputs; i++)
        if (!g->values[g->inputs[i]].init) m->real_inputs[m->n_real_inputs++] = g->inputs[i];
    return pl_model_finish(m);
}

pl_status pl_onnx_parse(const uint8_t *bytes, size_t size, const char *path,
                        const char *base_dir, pl_model **out) {
    *out = NULL;
    const char *what = path ? path : "<memory>";
    if (size == 0) return pl_err(PL_ERR_INVALID, "%s: the file is empty, not an ONNX model", what);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, size, bytes);
    if (!mp)
        return pl_err(PL_ERR_INVALID, "%s: not a valid ONNX model (protobuf parse failed: truncated or not protobuf)", what);
    pl_model *m = calloc(1, sizeof *m);
    pl_status st = PL_OK;
    if (!m) st = pl_err(PL_ERR_NOMEM, "out of memory");
    if (st == PL_OK) {
        m->path = pl_strdup(what);
        m->base_dir = pl_strdup(base_dir ? base_dir : ".");
        if (!m->path || !m->base_dir) st = pl_err(PL_ERR_NOMEM, "out of memory");
    }
    if (st == PL_OK && !mp->graph && mp->n_opset_import == 0 && !mp->has_ir_version)
        st = pl_err(PL_ERR_INVALID, "%s: not an ONNX model (no graph, no IR version)", what);
    if (st == PL_OK) {
        st = load_model(mp, m);
        if (st != PL_OK) pl_err_prefix(st, "%s", what);
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    if (st != PL_OK) {
        if (m) {
            pl_model_free_contents(m);
            free(m);
        }
        return st;
    }
    *out = m;
    return PL_OK;
}
