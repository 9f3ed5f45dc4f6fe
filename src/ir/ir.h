/* ir.h - the graph IR: values, nodes, attributes, graphs and the model that owns them. */
#ifndef PL_IR_H
#define PL_IR_H

#include "../core/core.h"

typedef struct pl_graph pl_graph;
struct pl_op_schema;

typedef enum pl_attr_type {
    PL_ATTR_UNDEFINED = 0,
    PL_ATTR_FLOAT = 1,
    PL_ATTR_INT = 2,
    PL_ATTR_STRING = 3,
    PL_ATTR_TENSOR = 4,
    PL_ATTR_GRAPH = 5,
    PL_ATTR_FLOATS = 6,
    PL_ATTR_INTS = 7,
    PL_ATTR_STRINGS = 8,
    PL_ATTR_TENSORS = 9,
    PL_ATTR_GRAPHS = 10,
    PL_ATTR_SPARSE_TENSOR = 11,
    PL_ATTR_SPARSE_TENSORS = 12,
    PL_ATTR_TYPE_PROTO = 13,
    PL_ATTR_TYPE_PROTOS = 14
} pl_attr_type;

typedef struct pl_attr {
    char *name;
    pl_attr_type type;
    float f;
    int64_t i;
    char *s; /* NUL-terminated; s_len bytes (may hold NULs) */
    size_t s_len;
    pl_tensor *t;
    pl_graph *g;
    int n; /* count for the list kinds */
    float *floats;
    int64_t *ints;
    char **strings;
    pl_tensor **tensors;
    pl_graph **graphs;
    int type_elem; /* TYPE_PROTO: element dtype of the tensor/sequence type, 0 if none */
} pl_attr;

/* A value's static type as the model declares or inference finds it. */
typedef struct pl_value_info {
    pl_dtype dtype; /* PL_DT_UNDEFINED when unknown or non-tensor */
    pl_kind kind;   /* tensor or sequence */
    bool optional;  /* an ONNX optional(...) type */
    int rank;       /* -1 when unknown */
    int64_t dims[PL_MAX_RANK]; /* -1 when unknown or symbolic */
    char *symbols[PL_MAX_RANK]; /* owned dim_param names, NULL when none */
} pl_value_info;

typedef struct pl_value {
    char *name;
    pl_value_info info;
    int producer;       /* node index, -1 when an input, initializer or outer value */
    int outer;          /* index of the same value in the parent graph, -1 when local */
    pl_tensor *init;    /* owned constant (initializer), NULL otherwise */
} pl_value;

typedef struct pl_node {
    char *name;
    char *op_type;
    char *domain; /* "" for the default domain */
    int n_in, n_out;
    int *in;  /* value indices; -1 for an omitted optional input */
    int *out; /* value indices; -1 for an omitted optional output */
    int n_attr;
    pl_attr *attrs;
    int64_t opset; /* version of the node's domain in the model */
    const struct pl_op_schema *schema; /* NULL when no kernel is registered */
} pl_node;

struct pl_graph {
    char *name;
    pl_graph *parent; /* NULL for the main graph */
    int n_values, cap_values;
    pl_value *values;
    pl_strmap names;  /* name -> value index */
    int n_nodes;
    pl_node *nodes;   /* topologically sorted after pl_graph_finish */
    int n_inputs;
    int *inputs;      /* value indices of the graph inputs, initializers included */
    int n_outputs;
    int *outputs;
    int n_outer;
    int *outer_values; /* values read from enclosing graphs */
};

typedef struct pl_opset_import {
    char *domain;
    int64_t version;
} pl_opset_import;

struct pl_model {
    char *path;
    char *base_dir;
    int64_t ir_version;
    char *producer; /* "name version" */
    char *domain;
    int64_t model_version;
    char *doc;
    int n_opsets;
    pl_opset_import *opsets;
    int n_meta;
    char **meta_keys, **meta_values;
    pl_graph *graph;
    /* graph inputs that are not initializers, in order */
    int n_real_inputs;
    int *real_inputs;
    /* op histogram, filled by pl_model_finish */
    int n_ops;
    char **op_names;
    int64_t *op_counts;
    int *op_supported;
};

/* ---- graph building (used by the importer and by tests) ---- */
pl_graph *pl_graph_new(pl_graph *parent);
void pl_graph_free(pl_graph *g);
/* Index of the value called `name`, created when absent. */
pl_status pl_graph_value(pl_graph *g, const char *name, int *index);
/* Topologically sorts the nodes and resolves outer-scope references; names the node at fault
 * when a cycle or an undefined input is found. */
pl_status pl_graph_finish(pl_graph *g);
void pl_attr_clear(pl_attr *a);
void pl_model_free_contents(pl_model *m);
/* Binds each node to its kernel (looking up domain + op + opset), checks opset domains, and
 * builds the op histogram. */
pl_status pl_model_finish(pl_model *m);
int64_t pl_model_opset_of(const pl_model *m, const char *domain);

/* ---- attribute access ---- */
const pl_attr *pl_node_attr(const pl_node *n, const char *name);
int64_t pl_attr_int(const pl_node *n, const char *name, int64_t dflt);
float pl_attr_float(const pl_node *n, const char *name, float dflt);
/* Borrowed string, `dflt` when absent. */
const char *pl_attr_string(const pl_node *n, const char *name, const char *dflt);
/* Borrowed array and its count (count may be NULL); NULL and 0 when absent. */
const int64_t *pl_attr_ints(const pl_node *n, const char *name, int *count);
const float *pl_attr_floats(const pl_node *n, const char *name, int *count);

#endif
