/* ir.c - graphs, values, attributes: construction, topological order, outer scope. */
#include "ir.h"

#include "../ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pl_graph *pl_graph_new(pl_graph *parent) {
    pl_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->parent = parent;
    pl_strmap_init(&g->names);
    return g;
}

void pl_attr_clear(pl_attr *a) {
    free(a->name);
    free(a->s);
    pl_tensor_destroy(a->t);
    pl_graph_free(a->g);
    free(a->floats);
    free(a->ints);
    for (int i = 0; a->strings && i < a->n; i++) free(a->strings[i]);
    free(a->strings);
    for (int i = 0; a->tensors && i < a->n; i++) pl_tensor_destroy(a->tensors[i]);
    free(a->tensors);
    for (int i = 0; a->graphs && i < a->n; i++) pl_graph_free(a->graphs[i]);
    free(a->graphs);
    memset(a, 0, sizeof *a);
}

static void node_clear(pl_node *n) {
    free(n->name);
    free(n->op_type);
    free(n->domain);
    free(n->in);
    free(n->out);
    for (int i = 0; i < n->n_attr; i++) pl_attr_clear(&n->attrs[i]);
    free(n->attrs);
}

void pl_graph_free(pl_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_values; i++) {
        free(g->values[i].name);
        pl_tensor_destroy(g->values[i].init);
        for (int d = 0; d < PL_MAX_RANK; d++) free(g->values[i].info.symbols[d]);
    }
    free(g->values);
    pl_strmap_free(&g->names);
    for (int i = 0; i < g->n_nodes; i++) node_clear(&g->nodes[i]);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->outer_values);
    free(g->name);
    free(g);
}

pl_status pl_graph_value(pl_graph *g, const char *name, int *index) {
    int found = pl_strmap_get(&g->names, name);
    if (found >= 0) {
        *index = found;
        return PL_OK;
    }
    if (g->n_values == g->cap_values) {
        int ncap = g->cap_values ? g->cap_values * 2 : 64;
        pl_value *nv = realloc(g->values, (size_t)ncap * sizeof *nv);
        if (!nv) return pl_err(PL_ERR_NOMEM, "out of memory");
        g->values = nv;
        g->cap_values = ncap;
    }
    pl_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = pl_strdup(name);
    if (!v->name) return pl_err(PL_ERR_NOMEM, "out of memory");
    v->producer = -1;
    v->outer = -1;
    v->info.rank = -1;
    PL_TRY(pl_strmap_put(&g->names, name, g->n_values));
    *index = g->n_values++;
    return PL_OK;
}

static bool is_graph_input(const pl_graph *g, int v) {
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] == v) return true;
    return false;
}

/* Values a node reads, including outer values its subgraphs read from this graph. */
static bool node_ready(const pl_graph *g, const pl_node *n, const bool *done) {
    for (int i = 0; i < n->n_in; i++) {
        int v = n->in[i];
        if (v >= 0 && g->values[v].producer >= 0 && !done[g->values[v].producer]) return false;
    }
    for (int a = 0; a < n->n_attr; a++) {
        const pl_attr *at = &n->attrs[a];
        int ng = at->type == PL_ATTR_GRAPH ? 1 : at->type == PL_ATTR_GRAPHS ? at->n : 0;
        for (int k = 0; k < ng; k++) {
            const pl_graph *sg = at->type == PL_ATTR_GRAPH ? at->g : at->graphs[k];
            for (int o = 0; o < sg->n_outer; o++) {
                int v = sg->values[sg->outer_values[o]].outer;
                if (v >= 0 && g->values[v].producer >= 0 && !done[g->values[v].producer])
                    return false;
            }
        }
    }
    return true;
}

pl_status pl_graph_finish(pl_graph *g) {
    /* producers */
    for (int i = 0; i < g->n_values; i++) g->values[i].producer = -1;
    for (int n = 0; n < g->n_nodes; n++) {
        for (int o = 0; o < g->nodes[n].n_out; o++) {
            int v = g->nodes[n].out[o];
            if (v < 0) continue;
            if (g->values[v].producer >= 0)
                return pl_err(PL_ERR_INVALID, "node '%s' (%s): output '%s' is already produced by node '%s'",
                              g->nodes[n].name, g->nodes[n].op_type, g->values[v].name,
                              g->nodes[g->values[v].producer].name);
            if (g->values[v].init || is_graph_input(g, v))
                return pl_err(PL_ERR_INVALID, "node '%s' (%s): output '%s' is also a graph input or initializer",
                              g->nodes[n].name, g->nodes[n].op_type, g->values[v].name);
            g->values[v].producer = n;
        }
    }
    /* outer-scope references */
    free(g->outer_values);
    g->outer_values = NULL;
    g->n_outer = 0;
    for (int i = 0; i < g->n_values; i++) {
        pl_value *v = &g->values[i];
        if (v->producer >= 0 || v->init || is_graph_input(g, i)) continue;
        if (!g->parent) {
            /* find who reads it, to name the node */
            for (int n = 0; n < g->n_nodes; n++)
                for (int k = 0; k < g->nodes[n].n_in; k++)
                    if (g->nodes[n].in[k] == i)
                        return pl_err(PL_ERR_INVALID, "node '%s' (%s): input '%s' is not produced by any node, graph input or initializer",
                                      g->nodes[n].name, g->nodes[n].op_type, v->name);
            for (int k = 0; k < g->n_outputs; k++)
                if (g->outputs[k] == i)
                    return pl_err(PL_ERR_INVALID, "graph output '%s' is not produced by any node, graph input or initializer", v->name);
            return pl_err(PL_ERR_INVALID, "value '%s' read by a subgraph is not defined in any enclosing graph", v->name);
        }
        int pv;
        PL_TRY(pl_graph_value(g->parent, v->name, &pv));
        v = &g->values[i];
        v->outer = pv;
        int *no = realloc(g->outer_values, (size_t)(g->n_outer + 1) * sizeof *no);
        if (!no) return pl_err(PL_ERR_NOMEM, "out of memory");
        g->outer_values = no;
        g->outer_values[g->n_outer++] = i;
    }
    /* stable topological order */
    if (g->n_nodes == 0) return PL_OK;
    bool *done = calloc((size_t)g->n_nodes, sizeof *done);
    int *order = malloc((size_t)g->n_nodes * sizeof *order);
    if (!done || !order) {
        free(done);
        free(order);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    int emitted = 0;
    while (emitted < g->n_nodes) {
        int before = emitted;
        for (int n = 0; n < g->n_nodes; n++) {
            if (done[n] || !node_ready(g, &g->nodes[n], done)) continue;
            done[n] = true;
            order[emitted++] = n;
        }
        if (emitted == before) {
            int bad = 0;
            while (done[bad]) bad++;
            pl_status st = pl_err(PL_ERR_INVALID, "node '%s' (%s): the graph has a cycle through this node",
                                  g->nodes[bad].name, g->nodes[bad].op_type);
            free(done);
            free(order);
            return st;
        }
    }
    bool sorted = true;
    for (int i = 0; i < g->n_nodes; i++) sorted &= order[i] == i;
    if (!sorted) {
        pl_node *nn = malloc((size_t)g->n_nodes * sizeof *nn);
        if (!nn) {
            free(done);
            free(order);
            return pl_err(PL_ERR_NOMEM, "out of memory");
        }
        for (int i = 0; i < g->n_nodes; i++) nn[i] = g->nodes[order[i]];
        free(g->nodes);
        g->nodes = nn;
        for (int n = 0; n < g->n_nodes; n++)
            for (int o = 0; o < g->nodes[n].n_out; o++)
                if (g->nodes[n].out[o] >= 0) g->values[g->nodes[n].out[o]].producer = n;
    }
    free(done);
    free(order);
    return PL_OK;
}

/* ---- attributes ---- */

const pl_attr *pl_node_attr(const pl_node *n, const char *name) {
    for (int i = 0; i < n->n_attr; i++)
        if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
    return NULL;
}

int64_t pl_attr_int(const pl_node *n, const char *name, int64_t dflt) {
    const pl_attr *a = pl_node_attr(n, name);
    if (!a) return dflt;
    if (a->type == PL_ATTR_INT) return a->i;
    if (a->type == PL_ATTR_FLOAT) return (int64_t)a->f;
    return dflt;
}

float pl_attr_float(const pl_node *n, const char *name, float dflt) {
    const pl_attr *a = pl_node_attr(n, name);
    if (!a) return dflt;
    if (a->type == PL_ATTR_FLOAT) return a->f;
    if (a->type == PL_ATTR_INT) return (float)a->i;
    return dflt;
}

const char *pl_attr_string(const pl_node *n, const char *name, const char *dflt) {
    const pl_attr *a = pl_node_attr(n, name);
    return a && a->type == PL_ATTR_STRING ? a->s : dflt;
}

const int64_t *pl_attr_ints(const pl_node *n, const char *name, int *count) {
    const pl_attr *a = pl_node_attr(n, name);
    if (count) *count = 0;
    if (!a || a->type != PL_ATTR_INTS) return NULL;
    if (count) *count = a->n;
    return a->ints;
}

const float *pl_attr_floats(const pl_node *n, const char *name, int *count) {
    const pl_attr *a = pl_node_attr(n, name);
    if (count) *count = 0;
    if (!a || a->type != PL_ATTR_FLOATS) return NULL;
    if (count) *count = a->n;
    return a->floats;
}

/* ---- model ---- */

int64_t pl_model_opset_of(const pl_model *m, const char *domain) {
    if (!domain || !strcmp(domain, "ai.onnx")) domain = "";
    for (int i = 0; i < m->n_opsets; i++) {
        const char *d = m->opsets[i].domain;
        if (!strcmp(d, "ai.onnx")) d = "";
        if (!strcmp(d, domain)) return m->opsets[i].version;
    }
    return -1;
}

static pl_status count_op(pl_model *m, const char *key, bool supported) {
    for (int i = 0; i < m->n_ops; i++)
        if (!strcmp(m->op_names[i], key)) {
            m->op_counts[i]++;
            return PL_OK;
        }
    char **nn = realloc(m->op_names, (size_t)(m->n_ops + 1) * sizeof *nn);
    if (!nn) return pl_err(PL_ERR_NOMEM, "out of memory");
    m->op_names = nn;
    int64_t *nc = realloc(m->op_counts, (size_t)(m->n_ops + 1) * sizeof *nc);
    if (!nc) return pl_err(PL_ERR_NOMEM, "out of memory");
    m->op_counts = nc;
    int *ns = realloc(m->op_supported, (size_t)(m->n_ops + 1) * sizeof *ns);
    if (!ns) return pl_err(PL_ERR_NOMEM, "out of memory");
    m->op_supported = ns;
    m->op_names[m->n_ops] = pl_strdup(key);
    if (!m->op_names[m->n_ops]) return pl_err(PL_ERR_NOMEM, "out of memory");
    m->op_counts[m->n_ops] = 1;
    m->op_supported[m->n_ops] = supported;
    m->n_ops++;
    return PL_OK;
}

static pl_status bind_graph(pl_model *m, pl_graph *g) {
    for (int n = 0; n < g->n_nodes; n++) {
        pl_node *node = &g->nodes[n];
        node->opset = pl_model_opset_of(m, node->domain);
        if (node->opset < 0)
            return pl_err(PL_ERR_INVALID, "node '%s' (%s): domain '%s' has no opset_import in the model",
                          node->name, node->op_type, node->domain);
        node->schema = pl_op_find(node->domain, node->op_type);
        char key[512];
        if (node->domain[0] && strcmp(node->domain, "ai.onnx"))
            snprintf(key, sizeof key, "%s::%s", node->domain, node->op_type);
        else
            snprintf(key, sizeof key, "%s", node->op_type);
        PL_TRY(count_op(m, key, node->schema != NULL));
        for (int a = 0; a < node->n_attr; a++) {
            pl_attr *at = &node->attrs[a];
            if (at->type == PL_ATTR_GRAPH) PL_TRY(bind_graph(m, at->g));
            for (int k = 0; at->type == PL_ATTR_GRAPHS && k < at->n; k++)
                PL_TRY(bind_graph(m, at->graphs[k]));
        }
    }
    return PL_OK;
}

pl_status pl_model_finish(pl_model *m) {
    if (pl_model_opset_of(m, "") < 0 && m->graph->n_nodes > 0) {
        /* IR < 3 models have no opset_import: ONNX says assume opset 1 */
        pl_opset_import *no = realloc(m->opsets, (size_t)(m->n_opsets + 1) * sizeof *no);
        if (!no) return pl_err(PL_ERR_NOMEM, "out of memory");
        m->opsets = no;
        m->opsets[m->n_opsets].domain = pl_strdup("");
        m->opsets[m->n_opsets].version = 1;
        m->n_opsets++;
    }
    return bind_graph(m, m->graph);
}

void pl_model_free_contents(pl_model *m) {
    free(m->path);
    free(m->base_dir);
    free(m->producer);
    free(m->domain);
    free(m->doc);
    for (int i = 0; i < m->n_opsets; i++) free(m->opsets[i].domain);
    free(m->opsets);
    for (int i = 0; i < m->n_meta; i++) {
        free(m->meta_keys[i]);
        free(m->meta_values[i]);
    }
    free(m->meta_keys);
    free(m->meta_values);
    pl_graph_free(m->graph);
    free(m->real_inputs);
    for (int i = 0; i < m->n_ops; i++) free(m->op_names[i]);
    free(m->op_names);
    free(m->op_counts);
    free(m->op_supported);
}
