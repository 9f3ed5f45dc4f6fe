/* xgraph.c - the x-graph: the CPU backend's optimizable copy of a model's main graph. */
#include "cpu.h"

#include "../ops/ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pl_post_name(pl_post_kind k) {
    switch (k) {
    case PL_POST_RELU: return "relu";
    case PL_POST_CLIP: return "clip";
    case PL_POST_SIGMOID: return "sigmoid";
    case PL_POST_TANH: return "tanh";
    case PL_POST_SILU: return "silu";
    case PL_POST_HARDSWISH: return "hardswish";
    case PL_POST_HARDSIGMOID: return "hardsigmoid";
    case PL_POST_GELU: return "gelu";
    case PL_POST_ELU: return "elu";
    case PL_POST_SUM: return "sum";
    case PL_POST_ADD: return "add";
    case PL_POST_MUL: return "mul";
    default: return "none";
    }
}

static pl_status grow_values(pl_xgraph *xg, int n) {
    pl_tensor **c = realloc(xg->consts, (size_t)n * sizeof *c);
    if (!c) return pl_err(PL_ERR_NOMEM, "out of memory");
    xg->consts = c;
    bool *o = realloc(xg->const_owned, (size_t)n * sizeof *o);
    if (!o) return pl_err(PL_ERR_NOMEM, "out of memory");
    xg->const_owned = o;
    int *rd = realloc(xg->readers, (size_t)n * sizeof *rd);
    if (!rd) return pl_err(PL_ERR_NOMEM, "out of memory");
    xg->readers = rd;
    for (int v = xg->n_values; v < n; v++) {
        xg->consts[v] = NULL;
        xg->const_owned[v] = false;
        xg->readers[v] = 0;
    }
    xg->n_values = n;
    return PL_OK;
}

pl_status pl_xgraph_new_value(pl_xgraph *xg, int *v) {
    PL_TRY(grow_values(xg, xg->n_values + 1));
    *v = xg->n_values - 1;
    return PL_OK;
}

void pl_xgraph_set_const(pl_xgraph *xg, int v, pl_tensor *t) {
    if (xg->const_owned[v]) pl_tensor_destroy(xg->consts[v]);
    xg->consts[v] = t;
    xg->const_owned[v] = true;
}

void pl_xgraph_log(pl_xgraph *xg, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **l = realloc(xg->log, (size_t)(xg->n_log + 1) * sizeof *l);
    if (!l) return;
    xg->log = l;
    xg->log[xg->n_log] = strdup(buf);
    if (xg->log[xg->n_log]) xg->n_log++;
}

pl_status pl_xgraph_count_readers(pl_xgraph *xg) {
    memset(xg->readers, 0, (size_t)xg->n_values * sizeof *xg->readers);
    for (int n = 0; n < xg->n_nodes; n++) {
        const pl_xnode *xn = &xg->nodes[n];
        if (xn->dead) continue;
        for (int i = 0; i < xn->n_in; i++)
            if (xn->in[i] >= 0) xg->readers[xn->in[i]]++;
        for (int p = 0; p < xn->n_post; p++)
            if (xn->post[p].arg >= 0) xg->readers[xn->post[p].arg]++;
        for (int o = 0; o < xn->n_outer; o++) xg->readers[xn->outer[o]]++;
    }
    for (int i = 0; i < xg->g->n_outputs; i++) xg->readers[xg->g->outputs[i]] += 1 << 20;
    return PL_OK;
}

/* The main-graph values that node's subgraphs read, once each per subgraph (as the reference
 * executor counts them). */
static pl_status outer_reads(const pl_node *node, pl_xnode *xn) {
    for (int pass = 0; pass < 2; pass++) {
        int n = 0;
        for (int a = 0; a < node->n_attr; a++) {
            const pl_attr *at = &node->attrs[a];
            int ng = at->type == PL_ATTR_GRAPH ? 1 : at->type == PL_ATTR_GRAPHS ? at->n : 0;
            for (int k = 0; k < ng; k++) {
                const pl_graph *sg = at->type == PL_ATTR_GRAPH ? at->g : at->graphs[k];
                for (int o = 0; o < sg->n_outer; o++, n++)
                    if (pass) xn->outer[n] = sg->values[sg->outer_values[o]].outer;
            }
        }
        if (pass || !n) {
            xn->n_outer = n;
            return PL_OK;
        }
        xn->outer = malloc((size_t)n * sizeof *xn->outer);
        if (!xn->outer) return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    return PL_OK;
}

pl_status pl_xgraph_create(const pl_model *m, pl_xgraph **out) {
    *out = NULL;
    const pl_graph *g = m->graph;
    pl_xgraph *xg = calloc(1, sizeof *xg);
    if (!xg) return pl_err(PL_ERR_NOMEM, "out of memory");
    xg->model = m;
    xg->g = g;
    pl_status st = grow_values(xg, g->n_values ? g->n_values : 1);
    if (st == PL_OK) {
        for (int v = 0; v < g->n_values; v++) xg->consts[v] = g->values[v].init;
        xg->nodes = calloc(g->n_nodes ? (size_t)g->n_nodes : 1, sizeof *xg->nodes);
        if (!xg->nodes) st = pl_err(PL_ERR_NOMEM, "out of memory");
    }
    for (int n = 0; st == PL_OK && n < g->n_nodes; n++) {
        const pl_node *node = &g->nodes[n];
        pl_xnode *xn = &xg->nodes[n];
        xn->node = node;
        xn->orig_index = n;
        xn->op = node->op_type;
        xn->n_in = node->n_in;
        xn->n_out = node->n_out;
        xn->in = malloc(((size_t)node->n_in + 1) * sizeof *xn->in);
        xn->out = malloc(((size_t)node->n_out + 1) * sizeof *xn->out);
        if (!xn->in || !xn->out) {
            st = pl_err(PL_ERR_NOMEM, "out of memory");
            break;
        }
        if (node->n_in) memcpy(xn->in, node->in, (size_t)node->n_in * sizeof *xn->in);
        if (node->n_out) memcpy(xn->out, node->out, (size_t)node->n_out * sizeof *xn->out);
        st = outer_reads(node, xn);
        if (st != PL_OK) break;
        pthread_mutex_init(&xn->lock, NULL);
        xg->n_nodes = n + 1;
    }
    xg->cap_nodes = xg->n_nodes;
    if (st == PL_OK) st = pl_xgraph_count_readers(xg);
    if (st != PL_OK) {
        pl_xgraph_free(xg);
        return st;
    }
    *out = xg;
    return PL_OK;
}

pl_status pl_xgraph_synth_node(pl_xgraph *xg, const char *op, const char *name, int64_t opset,
                               pl_node **out) {
    *out = NULL;
    pl_node **l = realloc(xg->synth, (size_t)(xg->n_synth + 1) * sizeof *l);
    if (!l) return pl_err(PL_ERR_NOMEM, "out of memory");
    xg->synth = l;
    pl_node *n = calloc(1, sizeof *n);
    if (!n) return pl_err(PL_ERR_NOMEM, "out of memory");
    n->name = strdup(name);
    n->op_type = strdup(op);
    n->domain = strdup("");
    n->opset = opset;
    n->schema = pl_op_find("", op);
    if (!n->name || !n->op_type || !n->domain) {
        free(n->name);
        free(n->op_type);
        free(n->domain);
        free(n);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    xg->synth[xg->n_synth++] = n;
    *out = n;
    return PL_OK;
}

static pl_status synth_attr(pl_node *n, const char *name, pl_attr_type type, pl_attr **out) {
    pl_attr *a = realloc(n->attrs, (size_t)(n->n_attr + 1) * sizeof *a);
    if (!a) return pl_err(PL_ERR_NOMEM, "out of memory");
    n->attrs = a;
    memset(&a[n->n_attr], 0, sizeof *a);
    a[n->n_attr].name = strdup(name);
    if (!a[n->n_attr].name) return pl_err(PL_ERR_NOMEM, "out of memory");
    a[n->n_attr].type = type;
    *out = &a[n->n_attr++];
    return PL_OK;
}

pl_status pl_xgraph_synth_attr_int(pl_node *n, const char *name, int64_t v) {
    pl_attr *a;
    PL_TRY(synth_attr(n, name, PL_ATTR_INT, &a));
    a->i = v;
    return PL_OK;
}

pl_status pl_xgraph_synth_attr_float(pl_node *n, const char *name, float v) {
    pl_attr *a;
    PL_TRY(synth_attr(n, name, PL_ATTR_FLOAT, &a));
    a->f = v;
    return PL_OK;
}

void pl_xgraph_free(pl_xgraph *xg) {
    if (!xg) return;
    for (int i = 0; i < xg->n_synth; i++) {
        pl_node *n = xg->synth[i];
        for (int a = 0; a < n->n_attr; a++) pl_attr_clear(&n->attrs[a]);
        free(n->attrs);
        free(n->name);
        free(n->op_type);
        free(n->domain);
        free(n);
    }
    free(xg->synth);
    for (int n = 0; n < xg->n_nodes; n++) {
        pl_xnode *xn = &xg->nodes[n];
        if (xn->state && xn->state_free) xn->state_free(xn->state);
        if (xn->own_state && xn->own_state_free) xn->own_state_free(xn->own_state);
        pthread_mutex_destroy(&xn->lock);
        free(xn->in);
        free(xn->out);
        free(xn->outer);
    }
    free(xg->nodes);
    for (int v = 0; v < xg->n_values; v++)
        if (xg->const_owned[v]) pl_tensor_destroy(xg->consts[v]);
    free(xg->consts);
    free(xg->const_owned);
    free(xg->readers);
    for (int i = 0; i < xg->n_log; i++) free(xg->log[i]);
    free(xg->log);
    free(xg);
}
