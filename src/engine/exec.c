/* exec.c - the reference executor: runs a graph node by node on the reference kernels,
 * freeing each intermediate tensor after its last reader. */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void frame_free(pl_frame *f) {
    if (f->vals)
        for (int i = 0; i < f->g->n_values; i++)
            if (f->owned[i]) pl_tensor_destroy(f->vals[i]);
    free(f->vals);
    free(f->owned);
    free(f->uses);
}

/* Number of times node n reads value v, counting outer reads by its subgraphs once. */
static void count_uses(const pl_graph *g, int *uses) {
    for (int n = 0; n < g->n_nodes; n++) {
        const pl_node *node = &g->nodes[n];
        for (int i = 0; i < node->n_in; i++)
            if (node->in[i] >= 0) uses[node->in[i]]++;
        for (int a = 0; a < node->n_attr; a++) {
            const pl_attr *at = &node->attrs[a];
            int ng = at->type == PL_ATTR_GRAPH ? 1 : at->type == PL_ATTR_GRAPHS ? at->n : 0;
            for (int k = 0; k < ng; k++) {
                const pl_graph *sg = at->type == PL_ATTR_GRAPH ? at->g : at->graphs[k];
                for (int o = 0; o < sg->n_outer; o++) uses[sg->values[sg->outer_values[o]].outer]++;
            }
        }
    }
    for (int i = 0; i < g->n_outputs; i++) uses[g->outputs[i]] += 1 << 20; /* never freed early */
}

static void release_reads(pl_frame *f, const pl_node *node) {
    const pl_graph *g = f->g;
    for (int i = 0; i < node->n_in + node->n_attr; i++) {
        if (i < node->n_in) {
            int v = node->in[i];
            if (v >= 0 && --f->uses[v] == 0 && f->owned[v]) {
                pl_tensor_destroy(f->vals[v]);
                f->vals[v] = NULL;
                f->owned[v] = false;
            }
            continue;
        }
        const pl_attr *at = &node->attrs[i - node->n_in];
        int ng = at->type == PL_ATTR_GRAPH ? 1 : at->type == PL_ATTR_GRAPHS ? at->n : 0;
        for (int k = 0; k < ng; k++) {
            const pl_graph *sg = at->type == PL_ATTR_GRAPH ? at->g : at->graphs[k];
            for (int o = 0; o < sg->n_outer; o++) {
                int v = sg->values[sg->outer_values[o]].outer;
                if (--f->uses[v] == 0 && f->owned[v]) {
                    pl_tensor_destroy(f->vals[v]);
                    f->vals[v] = NULL;
                    f->owned[v] = false;
                }
            }
        }
    }
    (void)g;
}

static pl_status run_node(pl_frame *f, int index, const pl_node *node) {
    const pl_graph *g = f->g;
    if (!node->schema)
        return pl_err(PL_ERR_UNSUPPORTED, "node '%s': op %s%s%s (opset %lld) is not supported",
                      node->name, node->domain[0] ? node->domain : "", node->domain[0] ? "::" : "",
                      node->op_type, (long long)node->opset);
    const pl_op_schema *s = node->schema;
    if (pl_op_check_arity(s, node->n_in, node->in, node->n_out) != PL_OK)
        return pl_err_prefix(PL_ERR_INVALID, "node '%s' (%s)", node->name, node->op_type);
    const pl_tensor *stack_in[16];
    pl_tensor *stack_out[16];
    const pl_tensor **in = node->n_in <= 16 ? stack_in : calloc((size_t)node->n_in, sizeof *in);
    pl_tensor **out = node->n_out <= 16 ? stack_out : calloc((size_t)node->n_out, sizeof *out);
    if (!in || !out) {
        if (in != stack_in) free(in);
        if (out != stack_out) free(out);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < node->n_in; i++) in[i] = node->in[i] >= 0 ? f->vals[node->in[i]] : NULL;
    for (int i = 0; i < node->n_out; i++) out[i] = NULL;
    pl_kernel_ctx ctx = {.node = node,
                         .opset = node->opset,
                         .n_in = node->n_in,
                         .in = in,
                         .n_out = node->n_out,
                         .out = out,
                         .frame = f};
    pl_status st = PL_OK;
    for (int i = 0; i < node->n_in; i++)
        if (node->in[i] >= 0 && !in[i])
            st = pl_err(PL_ERR_INTERNAL, "input '%s' has no value", g->values[node->in[i]].name);
    double t0 = f->hook ? now_ns() : 0;
    if (st == PL_OK) st = s->run(&ctx);
    if (st == PL_OK && f->hook) f->hook(f->hook_user, index, node, in, out, now_ns() - t0);
    for (int i = 0; st == PL_OK && i < node->n_out; i++)
        if (node->out[i] >= 0 && !out[i])
            st = pl_err(PL_ERR_INTERNAL, "output %d was not produced by the kernel", i);
    if (st != PL_OK) {
        for (int i = 0; i < node->n_out; i++) pl_tensor_destroy(out[i]);
        pl_err_prefix(st, "node '%s' (%s)", node->name, node->op_type);
    } else {
        for (int i = 0; i < node->n_out; i++) {
            int v = node->out[i];
            if (v < 0 || (f->uses[v] == 0)) {
                pl_tensor_destroy(out[i]);
                continue;
            }
            f->vals[v] = out[i];
            f->owned[v] = true;
        }
        release_reads(f, node);
    }
    if (in != stack_in) free(in);
    if (out != stack_out) free(out);
    return st;
}

pl_status pl_exec_graph(const pl_graph *g, pl_frame *parent, int n_inputs,
                        pl_tensor *const *inputs, int n_outputs, pl_tensor **outputs) {
    return pl_exec_graph_hooked(g, parent, NULL, NULL, n_inputs, inputs, n_outputs, outputs);
}

pl_status pl_exec_graph_hooked(const pl_graph *g, pl_frame *parent, pl_node_hook hook, void *user,
                               int n_inputs, pl_tensor *const *inputs, int n_outputs,
                               pl_tensor **outputs) {
    for (int i = 0; i < n_outputs; i++) outputs[i] = NULL;
    if (n_outputs > g->n_outputs)
        return pl_err(PL_ERR_INVALID, "graph '%s' has %d outputs, %d asked for", g->name,
                      g->n_outputs, n_outputs);
    pl_frame f = {.g = g, .parent = parent, .hook = hook, .hook_user = user};
    size_t nv = g->n_values ? (size_t)g->n_values : 1;
    f.vals = calloc(nv, sizeof *f.vals);
    f.owned = calloc(nv, sizeof *f.owned);
    f.uses = calloc(nv, sizeof *f.uses);
    if (!f.vals || !f.owned || !f.uses) {
        frame_free(&f);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < g->n_values; i++) f.vals[i] = g->values[i].init;
    for (int i = 0; i < g->n_outer; i++) {
        int v = g->outer_values[i];
        f.vals[v] = parent ? parent->vals[g->values[v].outer] : NULL;
    }
    for (int i = 0; i < n_inputs && i < g->n_inputs; i++) f.vals[g->inputs[i]] = inputs[i];
    count_uses(g, f.uses);
    pl_status st = PL_OK;
    for (int n = 0; n < g->n_nodes && st == PL_OK; n++) st = run_node(&f, n, &g->nodes[n]);
    for (int i = 0; st == PL_OK && i < n_outputs; i++) {
        int v = g->outputs[i];
        if (!f.vals[v]) {
            st = pl_err(PL_ERR_INVALID, "graph output '%s' has no value", g->values[v].name);
        } else if (f.owned[v]) {
            outputs[i] = f.vals[v];
            f.owned[v] = false;
        } else {
            st = pl_tensor_clone(f.vals[v], &outputs[i]);
        }
    }
    if (st != PL_OK)
        for (int i = 0; i < n_outputs; i++) {
            pl_tensor_destroy(outputs[i]);
            outputs[i] = NULL;
        }
    frame_free(&f);
    return st;
}

pl_status pl_exec_subgraph(pl_kernel_ctx *ctx, const pl_graph *g, int n_inputs,
                           pl_tensor *const *inputs, int n_outputs, pl_tensor **outputs) {
    if (n_inputs != g->n_inputs)
        return pl_err(PL_ERR_INVALID, "subgraph '%s' takes %d inputs, %d given", g->name,
                      g->n_inputs, n_inputs);
    return pl_exec_graph(g, ctx->frame, n_inputs, inputs, n_outputs, outputs);
}
