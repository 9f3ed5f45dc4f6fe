/* passes.c - graph passes over the x-graph, in order:
 *   1. eliminate   Identity, inference Dropout, Transpose pairs that cancel, Reshape chains
 *   2. fold        nodes whose inputs are all constant run once on the reference kernels
 *   2b. layernorm the decomposed LayerNorm of exporters below opset 17 becomes one node
 *   3. bn-fold     BatchNormalization, and Mul/Add by a per-channel constant, after Conv are
 *                  folded into the Conv's weights and bias
 *   4. fuse        activations, residual and bias Adds and x*sigmoid(x) after Conv,
 *                  ConvTranspose, Gemm and MatMul become post-ops of that node (executed by
 *                  oneDNN as post-ops, or after the reference kernel)
 *   4b. se        a squeeze-excitation block (GlobalAveragePool, two 1x1 Convs, Mul by the
 *                  pooled input) becomes one SqueezeExcitation node (plaster:se, own_se.c)
 *   5. dce         nodes none of whose outputs is read are removed
 * Each logs a summary line and one line per change. A value read by a subgraph (If, Loop,
 * Scan) is never renamed, since subgraphs name outer values by index. */
#include "cpu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static bool read_by_subgraph(const pl_xgraph *xg, int v) {
    for (int n = 0; n < xg->n_nodes; n++) {
        const pl_xnode *xn = &xg->nodes[n];
        for (int o = 0; !xn->dead && o < xn->n_outer; o++)
            if (xn->outer[o] == v) return true;
    }
    return false;
}

/* The only live node reading v as a plain input (not a post-op argument, not an output, not a
 * subgraph); -1 when there is none or more than one reader. */
static int sole_reader(const pl_xgraph *xg, int v) {
    if (v < 0 || xg->readers[v] != 1) return -1;
    for (int n = 0; n < xg->n_nodes; n++) {
        const pl_xnode *xn = &xg->nodes[n];
        if (xn->dead) continue;
        for (int i = 0; i < xn->n_in; i++)
            if (xn->in[i] == v) return n;
    }
    return -1;
}

static int producer(const pl_xgraph *xg, int v) {
    for (int n = 0; n < xg->n_nodes; n++) {
        const pl_xnode *xn = &xg->nodes[n];
        if (xn->dead) continue;
        for (int o = 0; o < xn->n_out; o++)
            if (xn->out[o] == v) return n;
    }
    return -1;
}

/* Replaces every live read of `from` by `to` (nodes and post-op arguments). */
static void rewire(pl_xgraph *xg, int from, int to) {
    for (int n = 0; n < xg->n_nodes; n++) {
        pl_xnode *xn = &xg->nodes[n];
        if (xn->dead) continue;
        for (int i = 0; i < xn->n_in; i++)
            if (xn->in[i] == from) xn->in[i] = to;
        for (int p = 0; p < xn->n_post; p++)
            if (xn->post[p].arg == from) xn->post[p].arg = to;
    }
}

static const char *vname(const pl_xgraph *xg, int v) {
    return v >= 0 && v < xg->g->n_values ? xg->g->values[v].name : "(new)";
}

static const pl_tensor *cst(const pl_xgraph *xg, int v) { return v >= 0 ? xg->consts[v] : NULL; }

static bool is_op(const pl_xnode *xn, const char *op) {
    return !xn->dead && !xn->node->domain[0] && !strcmp(xn->op, op);
}

static bool has_subgraph(const pl_node *node) {
    for (int a = 0; a < node->n_attr; a++)
        if (node->attrs[a].type == PL_ATTR_GRAPH || node->attrs[a].type == PL_ATTR_GRAPHS) return true;
    return false;
}

/* Number of live (read or graph-output) outputs of a node, and the index of the last one. */
static int live_outputs(const pl_xgraph *xg, const pl_xnode *xn, int *which) {
    int c = 0;
    for (int o = 0; o < xn->n_out; o++)
        if (xn->out[o] >= 0 && xg->readers[xn->out[o]] > 0) {
            c++;
            if (which) *which = o;
        }
    return c;
}

/* ---- 1. eliminate ---- */

static bool const_false(const pl_xgraph *xg, const pl_xnode *xn, int i) {
    if (i >= xn->n_in || xn->in[i] < 0) return true;
    const pl_tensor *t = cst(xg, xn->in[i]);
    return t && t->dtype == PL_DT_BOOL && t->numel == 1 && !((const uint8_t *)t->data)[0];
}

static pl_status pass_eliminate(pl_xgraph *xg) {
    int removed = 0;
    for (int n = 0; n < xg->n_nodes; n++) {
        pl_xnode *xn = &xg->nodes[n];
        if (xn->dead || xn->n_in < 1 || xn->in[0] < 0 || xn->n_out < 1 || xn->out[0] < 0) continue;
        int x = xn->in[0], y = xn->out[0];
        bool pass_through = false;
        if (is_op(xn, "Identity")) pass_through = true;
        if (is_op(xn, "Dropout") && const_false(xg, xn, 2) && live_outputs(xg, xn, NULL) == 1 &&
            xg->readers[y] > 0)
            pass_through = true;
        if (pass_through) {
            if (pl_xgraph_is_output(xg, y) || read_by_subgraph(xg, y)) continue;
            rewire(xg, y, x);
            xn->dead = true;
            removed++;
            pl_xgraph_log(xg, "  eliminate: %s '%s' (reads of '%s' now read '%s')", xn->op, xn->node->name, vname(xg, y), vname(xg, x));
            PL_TRY(pl_xgraph_count_readers(xg));
            continue;
        }
        if (is_op(xn, "Transpose")) {
            int r = sole_reader(xg, y);
            if (r < 0 || !is_op(&xg->nodes[r], "Transpose") || pl_xgraph_is_output(xg, y)) continue;
            pl_xnode *b = &xg->nodes[r];
            int n1, n2;
            const int64_t *p1 = pl_attr_ints(xn->node, "perm", &n1), *p2 = pl_attr_ints(b->node, "perm", &n2);
            if (!p1 || !p2 || n1 != n2) continue;
            bool ident = true;
            for (int i = 0; i < n2; i++)
                if (p2[i] < 0 || p2[i] >= n1 || p1[p2[i]] != i) ident = false;
            int z = b->out[0];
            if (!ident || z < 0 || pl_xgraph_is_output(xg, z) || read_by_subgraph(xg, z)) continue;
            rewire(xg, z, x);
            xn->dead = b->dead = true;
            removed += 2;
            pl_xgraph_log(xg, "  eliminate: Transpose '%s' + Transpose '%s' cancel", xn->node->name, b->node->name);
            PL_TRY(pl_xgraph_count_readers(xg));
            continue;
        }
        if (is_op(xn, "Reshape")) {
            int r = sole_reader(xg, y);
            if (r < 0 || !is_op(&xg->nodes[r], "Reshape") || pl_xgraph_is_output(xg, y)) continue;
            pl_xnode *b = &xg->nodes[r];
            if (b->in[0] != y || b->n_in < 2) continue;
            const pl_tensor *s2 = cst(xg, b->in[1]);
            if (!s2 || s2->dtype != PL_DT_INT64) continue;
            bool zero = false;
            for (int64_t i = 0; i < s2->numel; i++)
                if (((const int64_t *)s2->data)[i] == 0) zero = true;
            if (zero) continue;
            b->in[0] = x;
            xn->dead = true;
            removed++;
            pl_xgraph_log(xg, "  eliminate: Reshape '%s' (Reshape '%s' reshapes its input directly)", xn->node->name, b->node->name);
            PL_TRY(pl_xgraph_count_readers(xg));
        }
    }
    pl_xgraph_log(xg, "eliminate: %d node(s) removed (Identity, inference Dropout, cancelling Transposes, Reshape chains)", removed);
    return PL_OK;
}

/* ---- 2. fold constants ---- */

static bool nondeterministic(const char *op) {
    return !strncmp(op, "Random", 6) || !strcmp(op, "Multinomial") || !strcmp(op, "Bernoulli");
}

#define FOLD_MAX_BYTES ((size_t)64 << 20)

static pl_status pass_fold(pl_xgraph *xg) {
    int folded = 0;
    for (int n = 0; n < xg->n_nodes; n++) {
        pl_xnode *xn = &xg->nodes[n];
        const pl_node *node = xn->node;
        if (xn->dead || !node->schema || xn->n_post || has_subgraph(node) || nondeterministic(xn->op)) continue;
        bool all_const = true;
        for (int i = 0; i < xn->n_in; i++)
            if (xn->in[i] >= 0 && !xg->consts[xn->in[i]]) all_const = false;
        /* a graph input with a default (an initializer) may be overridden by the caller */
        for (int i = 0; all_const && i < xn->n_in; i++)
            for (int k = 0; xn->in[i] >= 0 && k < xg->g->n_inputs; k++)
                if (xg->g->inputs[k] == xn->in[i] && !xg->const_owned[xn->in[i]]) {
                    bool real = false;
                    for (int j = 0; j < xg->model->n_real_inputs; j++)
                        if (xg->model->real_inputs[j] == xn->in[i]) real = true;
                    if (real) all_const = false;
                }
        if (!all_const) continue;
        bool outs_ok = true;
        for (int o = 0; o < xn->n_out; o++)
            if (xn->out[o] >= 0 && (pl_xgraph_is_output(xg, xn->out[o]) || read_by_subgraph(xg, xn->out[o]))) outs_ok = false;
        if (!outs_ok) continue;
        const pl_tensor *in[32];
        pl_tensor *out[32] = {0};
        if (xn->n_in > 32 || xn->n_out > 32) continue;
        for (int i = 0; i < xn->n_in; i++) in[i] = xn->in[i] >= 0 ? xg->consts[xn->in[i]] : NULL;
        pl_kernel_ctx ctx = {.node = node, .opset = node->opset, .n_in = xn->n_in, .in = in,
                             .n_out = xn->n_out, .out = out};
        pl_status st = node->schema->run(&ctx);
        size_t bytes = 0;
        for (int o = 0; o < xn->n_out; o++)
            if (out[o]) bytes += out[o]->nbytes;
        if (st != PL_OK || bytes > FOLD_MAX_BYTES) {
            /* left to run time, where the error (if any) is reported with the inputs' values */
            pl_err_clear();
            for (int o = 0; o < xn->n_out; o++) pl_tensor_destroy(out[o]);
            continue;
        }
        for (int o = 0; o < xn->n_out; o++) {
            if (xn->out[o] >= 0 && out[o]) pl_xgraph_set_const(xg, xn->out[o], out[o]);
            else pl_tensor_destroy(out[o]);
        }
        xn->dead = true;
        folded++;
        pl_xgraph_log(xg, "  fold: %s '%s' -> constant", xn->op, node->name);
    }
    PL_TRY(pl_xgraph_count_readers(xg));
    pl_xgraph_log(xg, "fold: %d node(s) computed at build time", folded);
    return PL_OK;
}

/* ---- 2b. LayerNormalization from its decomposition ---- */

/* ReduceMean over the last axis only, keepdims: the axes attribute (opset < 18) or a constant
 * axes input. */
static bool mean_last_axis(const pl_xgraph *xg, const pl_xnode *xn) {
    if (!is_op(xn, "ReduceMean") || xn->n_out != 1 || pl_attr_int(xn->node, "keepdims", 1) != 1) return false;
    int n = 0;
    const int64_t *ax = pl_attr_ints(xn->node, "axes", &n);
    if (!ax && xn->n_in >= 2 && xn->in[1] >= 0) {
        const pl_tensor *t = cst(xg, xn->in[1]);
        if (!t || t->dtype != PL_DT_INT64) return false;
        ax = t->data;
        n = (int)t->numel;
    }
    return ax && n == 1 && ax[0] == -1;
}

static const float *scalar_f32(const pl_xgraph *xg, int v) {
    const pl_tensor *t = cst(xg, v);
    return t && t->dtype == PL_DT_FLOAT && t->numel == 1 ? t->data : NULL;
}

static int other_input(const pl_xnode *xn, int v) {
    if (xn->n_in != 2) return -1;
    return xn->in[0] == v ? xn->in[1] : xn->in[1] == v ? xn->in[0] : -1;
}

/* The sole reader of v when it is op `op` reading v (and v is neither an output nor read by a
 * subgraph); NULL otherwise. */
static pl_xnode *next_op(pl_xgraph *xg, int v, const char *op) {
    if (v < 0 || pl_xgraph_is_output(xg, v)) return NULL;
    int r = sole_reader(xg, v);
    if (r < 0 || !is_op(&xg->nodes[r], op)) return NULL;
    return &xg->nodes[r];
}

/* mean = ReduceMean(x); d = x - mean; var = ReduceMean(d^2); y = d / sqrt(var + eps) * g + b,
 * as PyTorch exports nn.LayerNorm below opset 17, becomes one LayerNormalization(axis -1). */
static pl_status pass_layernorm(pl_xgraph *xg) {
    int fused = 0;
    for (int n = 0; n < xg->n_nodes; n++) {
        pl_xnode *m1 = &xg->nodes[n];
        if (!mean_last_axis(xg, m1)) continue;
        int x = m1->in[0], mean = m1->out[0];
        if (x < 0 || mean < 0 || pl_xgraph_is_output(xg, mean)) continue;
        pl_xnode *sub = next_op(xg, mean, "Sub");
        if (!sub || sub->in[0] != x || sub->in[1] != mean) continue;
        int d = sub->out[0];
        if (d < 0 || xg->readers[d] != 2 || pl_xgraph_is_output(xg, d) || read_by_subgraph(xg, d)) continue;
        pl_xnode *pw = NULL, *dv = NULL;
        for (int k = 0; k < xg->n_nodes; k++) {
            pl_xnode *c = &xg->nodes[k];
            if (c->dead) continue;
            if (is_op(c, "Pow") && c->n_in == 2 && c->in[0] == d) pw = c;
            if (is_op(c, "Div") && c->n_in == 2 && c->in[0] == d) dv = c;
        }
        const float *two = pw ? scalar_f32(xg, pw->in[1]) : NULL;
        if (!pw || !dv || !two || *two != 2.0f) continue;
        pl_xnode *m2 = next_op(xg, pw->out[0], "ReduceMean");
        if (!m2 || !mean_last_axis(xg, m2)) continue;
        pl_xnode *ae = next_op(xg, m2->out[0], "Add");
        const float *eps = ae ? scalar_f32(xg, other_input(ae, m2->out[0])) : NULL;
        if (!eps) continue;
        pl_xnode *sq = next_op(xg, ae->out[0], "Sqrt");
        if (!sq || next_op(xg, sq->out[0], "Div") != dv || dv->in[1] != sq->out[0]) continue;
        pl_xnode *mul = next_op(xg, dv->out[0], "Mul");
        int g = mul ? other_input(mul, dv->out[0]) : -1;
        const pl_tensor *gt = cst(xg, g);
        if (!mul || !gt || gt->dtype != PL_DT_FLOAT || gt->rank != 1) continue;
        pl_xnode *add = next_op(xg, mul->out[0], "Add");
        int b = add ? other_input(add, mul->out[0]) : -1;
        const pl_tensor *bt = cst(xg, b);
        if (!bt || bt->dtype != PL_DT_FLOAT || bt->rank != 1 || bt->numel != gt->numel) {
            add = NULL;
            b = -1;
        }
        int y = add ? add->out[0] : mul->out[0];
        pl_node *ln;
        char name[512];
        snprintf(name, sizeof name, "%s (LayerNormalization)", m1->node->name);
        PL_TRY(pl_xgraph_synth_node(xg, "LayerNormalization", name, 17, &ln));
        PL_TRY(pl_xgraph_synth_attr_int(ln, "axis", -1));
        PL_TRY(pl_xgraph_synth_attr_float(ln, "epsilon", *eps));
        int *in = realloc(m1->in, 3 * sizeof *in);
        if (!in) return pl_err(PL_ERR_NOMEM, "out of memory");
        m1->in = in;
        m1->node = ln;
        m1->op = ln->op_type;
        m1->n_in = b >= 0 ? 3 : 2;
        m1->in[0] = x;
        m1->in[1] = g;
        m1->in[2] = b;
        m1->out[0] = y;
        sub->dead = pw->dead = m2->dead = ae->dead = sq->dead = dv->dead = mul->dead = true;
        if (add) add->dead = true;
        fused++;
        pl_xgraph_log(xg, "  layernorm: %d nodes from ReduceMean '%s' to %s '%s' -> LayerNormalization", add ? 9 : 8,
                      sub->node->name[0] ? xg->g->nodes[m1->orig_index].name : "", add ? "Add" : "Mul",
                      add ? add->node->name : mul->node->name);
        PL_TRY(pl_xgraph_count_readers(xg));
    }
    pl_xgraph_log(xg, "layernorm: %d decomposed LayerNorm(s) fused into LayerNormalization", fused);
    return PL_OK;
}

/* ---- 3. fold BatchNormalization and per-channel scale/shift into Conv ---- */

/* Conv with a constant float weight [M, C/g, k...] and an absent or constant bias. */
static bool foldable_conv(const pl_xgraph *xg, const pl_xnode *xn) {
    if (!is_op(xn, "Conv") || xn->n_in < 2 || xn->n_post || xn->n_out != 1) return false;
    const pl_tensor *w = cst(xg, xn->in[1]);
    if (!w || w->dtype != PL_DT_FLOAT || w->rank < 3 || w->dims[0] < 1) return false;
    if (xn->n_in >= 3 && xn->in[2] >= 0) {
        const pl_tensor *b = cst(xg, xn->in[2]);
        if (!b || b->dtype != PL_DT_FLOAT || b->numel != w->dims[0]) return false;
    }
    return true;
}

/* A per-output-channel float constant for M channels: shape [M,1,...] or [1,M,1,...] of the
 * conv's output rank, or [M] with rank 1 treated as broadcasting on the last axis (refused). */
static bool per_channel(const pl_tensor *c, int64_t m, int out_rank) {
    if (!c || c->dtype != PL_DT_FLOAT || c->numel != m) return false;
    if (c->rank == out_rank) return c->dims[1] == m || m == 1;
    if (c->rank == out_rank - 1) return c->dims[0] == m || m == 1;
    return m == 1 && c->rank <= 1;
}

/* Replaces conv's weight and bias with new constants W*s, B*s + t. */
static pl_status rescale_conv(pl_xgraph *xg, pl_xnode *xn, const double *s, const double *t) {
    const pl_tensor *w = cst(xg, xn->in[1]);
    const pl_tensor *b = xn->n_in >= 3 && xn->in[2] >= 0 ? cst(xg, xn->in[2]) : NULL;
    int64_t m = w->dims[0], per = w->numel / m;
    pl_tensor *nw, *nb;
    int64_t bd[1] = {m};
    PL_TRY(pl_tensor_clone(w, &nw));
    pl_status st = pl_tensor_create(PL_DT_FLOAT, 1, bd, &nb);
    if (st != PL_OK) {
        pl_tensor_destroy(nw);
        return st;
    }
    float *wd = nw->data, *bdd = nb->data;
    for (int64_t c = 0; c < m; c++) {
        for (int64_t k = 0; k < per; k++) wd[c * per + k] = (float)(wd[c * per + k] * s[c]);
        double bias = b ? ((const float *)b->data)[c] : 0.0;
        bdd[c] = (float)(bias * s[c] + t[c]);
    }
    int vw, vb;
    st = pl_xgraph_new_value(xg, &vw);
    if (st == PL_OK) st = pl_xgraph_new_value(xg, &vb);
    if (st != PL_OK) {
        pl_tensor_destroy(nw);
        pl_tensor_destroy(nb);
        return st;
    }
    pl_xgraph_set_const(xg, vw, nw);
    pl_xgraph_set_const(xg, vb, nb);
    if (xn->n_in < 3) {
        int *in = realloc(xn->in, 3 * sizeof *in);
        if (!in) return pl_err(PL_ERR_NOMEM, "out of memory");
        xn->in = in;
        xn->n_in = 3;
    }
    xn->in[1] = vw;
    xn->in[2] = vb;
    return PL_OK;
}

static pl_status pass_bn_fold(pl_xgraph *xg) {
    int folded = 0;
    for (int n = 0; n < xg->n_nodes; n++) {
        pl_xnode *xn = &xg->nodes[n];
        for (;;) {
            if (!foldable_conv(xg, xn)) break;
            int y = xn->out[0];
            if (y < 0 || pl_xgraph_is_output(xg, y)) break;
            int r = sole_reader(xg, y);
            if (r < 0) break;
            pl_xnode *b = &xg->nodes[r];
            const pl_tensor *w = cst(xg, xn->in[1]);
            int64_t m = w->dims[0];
            int out_rank = w->rank;
            double *s = malloc((size_t)m * sizeof *s), *t = malloc((size_t)m * sizeof *t);
            if (!s || !t) {
                free(s);
                free(t);
                return pl_err(PL_ERR_NOMEM, "out of memory");
            }
            bool ok = false;
            if (is_op(b, "BatchNormalization") && b->in[0] == y && b->n_in >= 5 &&
                live_outputs(xg, b, NULL) == 1 && b->out[0] >= 0 && xg->readers[b->out[0]] > 0 &&
                pl_attr_int(b->node, "training_mode", 0) == 0) {
                const pl_tensor *sc = cst(xg, b->in[1]), *bb = cst(xg, b->in[2]), *mean = cst(xg, b->in[3]),
                                *var = cst(xg, b->in[4]);
                double eps = pl_attr_float(b->node, "epsilon", 1e-5f);
                if (sc && bb && mean && var && sc->dtype == PL_DT_FLOAT && bb->dtype == PL_DT_FLOAT &&
                    mean->dtype == PL_DT_FLOAT && var->dtype == PL_DT_FLOAT && sc->numel == m &&
                    bb->numel == m && mean->numel == m && var->numel == m) {
                    for (int64_t c = 0; c < m; c++) {
                        double sv = ((const float *)sc->data)[c] / sqrt(((const float *)var->data)[c] + eps);
                        s[c] = sv;
                        t[c] = ((const float *)bb->data)[c] - ((const float *)mean->data)[c] * sv;
                    }
                    ok = true;
                }
            } else if ((is_op(b, "Mul") || is_op(b, "Add")) && b->n_in == 2) {
                int other = b->in[0] == y ? b->in[1] : b->in[0];
                const pl_tensor *c = cst(xg, other);
                if (other != y && per_channel(c, m, out_rank)) {
                    const float *cd = c->data;
                    bool mul = is_op(b, "Mul");
                    for (int64_t k = 0; k < m; k++) {
                        float v = cd[c->numel == 1 ? 0 : k];
                        s[k] = mul ? v : 1.0;
                        t[k] = mul ? 0.0 : v;
                    }
                    ok = true;
                }
            }
            pl_status st = PL_OK;
            if (ok) st = rescale_conv(xg, xn, s, t);
            free(s);
            free(t);
            PL_TRY(st);
            if (!ok) break;
            xn->out[0] = b->out[0];
            b->dead = true;
            folded++;
            pl_xgraph_log(xg, "  bn-fold: %s '%s' folded into Conv '%s'", b->op, b->node->name, xn->node->name);
            PL_TRY(pl_xgraph_count_readers(xg));
        }
    }
    pl_xgraph_log(xg, "bn-fold: %d BatchNormalization/Mul/Add node(s) folded into Conv weights", folded);
    return PL_OK;
}

/* ---- 4. fuse post-ops ---- */

static bool fusable_producer(const pl_xgraph *xg, const pl_xnode *xn) {
    if (xn->dead || xn->node->domain[0] || xn->n_post >= PL_X_MAX_POST) return false;
    if (strcmp(xn->op, "Conv") && strcmp(xn->op, "ConvTranspose") && strcmp(xn->op, "Gemm") &&
        strcmp(xn->op, "MatMul"))
        return false;
    /* float output: a constant float operand, or a declared float output */
    int y = xn->out[0];
    if (y < 0) return false;
    if (y < xg->g->n_values && xg->g->values[y].info.dtype == PL_DT_FLOAT) return true;
    for (int i = 0; i < xn->n_in && i < 2; i++) {
        const pl_tensor *c = cst(xg, xn->in[i]);
        if (c && c->dtype == PL_DT_FLOAT) return true;
    }
    for (int i = 0; i < xn->n_in && i < 2; i++) {
        int v = xn->in[i];
        if (v >= 0 && v < xg->g->n_values && xg->g->values[v].info.dtype == PL_DT_FLOAT) return true;
    }
    return false;
}

/* The activation that node b applies to its single input, as a post-op; false if none. */
static bool activation_of(const pl_xgraph *xg, const pl_xnode *b, pl_post *p) {
    memset(p, 0, sizeof *p);
    p->arg = -1;
    if (b->n_out != 1 || (b->node->domain[0] && strcmp(b->node->domain, "com.microsoft"))) return false;
    const char *op = b->op;
    const pl_node *nd = b->node;
    if (!strcmp(op, "Relu")) p->kind = PL_POST_RELU;
    else if (!strcmp(op, "LeakyRelu")) {
        p->kind = PL_POST_RELU;
        p->alpha = pl_attr_float(nd, "alpha", 0.01f);
    } else if (!strcmp(op, "Sigmoid")) p->kind = PL_POST_SIGMOID;
    else if (!strcmp(op, "Tanh")) p->kind = PL_POST_TANH;
    else if (!strcmp(op, "HardSwish")) p->kind = PL_POST_HARDSWISH;
    else if (!strcmp(op, "HardSigmoid")) {
        p->kind = PL_POST_HARDSIGMOID;
        p->alpha = pl_attr_float(nd, "alpha", 0.2f);
        p->beta = pl_attr_float(nd, "beta", 0.5f);
    } else if (!strcmp(op, "Elu")) {
        p->kind = PL_POST_ELU;
        p->alpha = pl_attr_float(nd, "alpha", 1.0f);
    } else if (!strcmp(op, "Gelu") && (!strcmp(pl_attr_string(nd, "approximate", "none"), "none"))) {
        p->kind = PL_POST_GELU;
    } else if (!strcmp(op, "Clip")) {
        p->kind = PL_POST_CLIP;
        p->alpha = -INFINITY;
        p->beta = INFINITY;
        if (nd->opset < 11) {
            p->alpha = pl_attr_float(nd, "min", -INFINITY);
            p->beta = pl_attr_float(nd, "max", INFINITY);
        } else {
            for (int i = 1; i < 3; i++) {
                if (i >= b->n_in || b->in[i] < 0) continue;
                const pl_tensor *c = cst(xg, b->in[i]);
                if (!c || c->dtype != PL_DT_FLOAT || c->numel != 1) return false;
                if (i == 1) p->alpha = ((const float *)c->data)[0];
                else p->beta = ((const float *)c->data)[0];
            }
        }
    } else {
        return false;
    }
    return b->in[0] >= 0;
}

/* Whether value v is computed before node index `before` runs (constant, input, or produced
 * by an earlier node). */
static bool available_before(const pl_xgraph *xg, int v, int before) {
    if (v < 0) return false;
    if (xg->consts[v]) return true;
    int p = producer(xg, v);
    return p < before;
}

static pl_status pass_fuse(pl_xgraph *xg) {
    int fused = 0;
    for (int n = 0; n < xg->n_nodes; n++) {
        pl_xnode *xn = &xg->nodes[n];
        while (fusable_producer(xg, xn)) {
            int y = xn->out[0];
            if (pl_xgraph_is_output(xg, y) || read_by_subgraph(xg, y)) break;
            for (int o = 1; o < xn->n_out; o++)
                if (xn->out[o] >= 0) y = -1;
            if (y < 0) break;
            pl_post p;
            int r = sole_reader(xg, y);
            pl_xnode *b = r >= 0 ? &xg->nodes[r] : NULL;
            int new_out = -1;
            const char *what = NULL;
            pl_xnode *also_dead = NULL;
            if (b && activation_of(xg, b, &p) && b->in[0] == y) {
                new_out = b->out[0];
                what = b->op;
            } else if (b && (is_op(b, "Add") || is_op(b, "Mul")) && b->n_in == 2 && b->in[0] != b->in[1]) {
                int other = b->in[0] == y ? b->in[1] : b->in[0];
                bool mul = is_op(b, "Mul");
                /* Add(x, y) = y + x only when y's shape is the result's: the other operand must
                 * broadcast into the producer's output, which the run checks (see cpu_exec.c) */
                if (!available_before(xg, other, n)) break;
                p = (pl_post){.kind = mul ? PL_POST_MUL : PL_POST_ADD, .arg = other};
                new_out = b->out[0];
                what = b->op;
            } else if (xg->readers[y] == 2) {
                /* x * sigmoid(x) (SiLU) or x * hardsigmoid(x; 1/6, 1/2) (HardSwish, as opset-13
                 * exporters write it): the activation read only by Mul(y, act) */
                int act = -1;
                pl_post_kind kind = PL_POST_NONE;
                for (int k = 0; k < xg->n_nodes && act < 0; k++) {
                    pl_xnode *c = &xg->nodes[k];
                    if (c->dead || c->n_in < 1 || c->in[0] != y) continue;
                    if (is_op(c, "Sigmoid")) {
                        act = k;
                        kind = PL_POST_SILU;
                    } else if (is_op(c, "HardSigmoid") && fabsf(pl_attr_float(c->node, "alpha", 0.2f) - 1.0f / 6.0f) < 1e-6f &&
                               pl_attr_float(c->node, "beta", 0.5f) == 0.5f) {
                        act = k;
                        kind = PL_POST_HARDSWISH;
                    }
                }
                if (act < 0) break;
                int s_out = xg->nodes[act].out[0];
                int mr = sole_reader(xg, s_out);
                if (mr < 0 || !is_op(&xg->nodes[mr], "Mul") || pl_xgraph_is_output(xg, s_out)) break;
                pl_xnode *m = &xg->nodes[mr];
                if (!((m->in[0] == y && m->in[1] == s_out) || (m->in[1] == y && m->in[0] == s_out))) break;
                p = (pl_post){.kind = kind, .arg = -1};
                new_out = m->out[0];
                what = kind == PL_POST_SILU ? "Sigmoid+Mul (SiLU)" : "HardSigmoid+Mul (HardSwish)";
                b = m;
                also_dead = &xg->nodes[act];
            } else {
                break;
            }
            if (new_out < 0) break;
            xn->post[xn->n_post++] = p;
            xn->out[0] = new_out;
            b->dead = true;
            if (also_dead) also_dead->dead = true;
            fused++;
            pl_xgraph_log(xg, "  fuse: %s '%s' into %s '%s' (post-op %s)", what, b->node->name, xn->op,
                          xn->node->name, pl_post_name(p.kind));
            PL_TRY(pl_xgraph_count_readers(xg));
        }
    }
    pl_xgraph_log(xg, "fuse: %d node(s) fused as post-ops (activations, residual/bias Add, Mul, SiLU)", fused);
    return PL_OK;
}

/* ---- 4b. squeeze-excitation ---- */

/* Conv c as one of a squeeze-excitation block's fully connected layers: reads v (a pooled
 * [N, C, 1...] value), constant float weights [R, C, 1...] with group 1 and no padding, an
 * absent or constant bias [R]. Its weights are returned, *bias the bias or NULL. */
static const pl_tensor *se_fc(const pl_xgraph *xg, const pl_xnode *c, int v, int *bias) {
    if (!is_op(c, "Conv") || c->n_in < 2 || c->n_in > 3 || c->in[0] != v || c->n_out != 1 || c->out[0] < 0) return NULL;
    const pl_tensor *w = cst(xg, c->in[1]);
    if (!w || w->dtype != PL_DT_FLOAT || w->rank < 3 || w->dims[0] < 1 || w->dims[1] < 1) return NULL;
    for (int d = 2; d < w->rank; d++)
        if (w->dims[d] != 1) return NULL;
    if (pl_attr_int(c->node, "group", 1) != 1) return NULL;
    int n = 0;
    const int64_t *pads = pl_attr_ints(c->node, "pads", &n);
    for (int i = 0; pads && i < n; i++)
        if (pads[i]) return NULL;
    /* attributes the Conv itself would refuse stay with it (and its error message) */
    const int64_t *ks = pl_attr_ints(c->node, "kernel_shape", &n);
    if (ks && n != w->rank - 2) return NULL;
    for (int i = 0; ks && i < n; i++)
        if (ks[i] != 1) return NULL;
    static const char *const positive[] = {"strides", "dilations"};
    for (int a = 0; a < 2; a++) {
        const int64_t *at = pl_attr_ints(c->node, positive[a], &n);
        if (at && n != w->rank - 2) return NULL;
        for (int i = 0; at && i < n; i++)
            if (at[i] < 1) return NULL;
    }
    *bias = c->n_in == 3 ? c->in[2] : -1;
    if (*bias >= 0) {
        const pl_tensor *b = cst(xg, *bias);
        if (!b || b->dtype != PL_DT_FLOAT || b->rank != 1 || b->numel != w->dims[0]) return NULL;
    }
    return w;
}

/* x * gate(fc2(act(fc1(GlobalAveragePool(x))))), as the fuse pass leaves a squeeze-excitation
 * block (fc1 and fc2 1x1 convolutions with their activations as post-ops, the Mul by x a
 * post-op of fc2), becomes one SqueezeExcitation node that plaster:se runs (own_se.c): two
 * passes over x instead of five primitives. Inputs x, W1 [R, C], B1, W2 transposed [R, C], B2;
 * the post-ops are fc1's (attribute fc1_posts of them) then fc2's. */
static pl_status pass_se(pl_xgraph *xg) {
    int fused = 0;
    if (!pl_own_se_enabled()) {
        pl_xgraph_log(xg, "se: off (PL_OWN_SE=0 or PL_TACTICS_OFF)");
        return PL_OK;
    }
    for (int n = 0; n < xg->n_nodes; n++) {
        pl_xnode *g = &xg->nodes[n];
        if (!is_op(g, "GlobalAveragePool") || g->n_in != 1 || g->n_out != 1 || g->n_post) continue;
        int x = g->in[0], p = g->out[0];
        /* x is float when the weights are (Conv's type constraint), unless declared otherwise */
        if (x < 0 || (x < xg->g->n_values && xg->g->values[x].info.dtype != PL_DT_FLOAT &&
                      xg->g->values[x].info.dtype != PL_DT_UNDEFINED))
            continue;
        if (p < 0 || pl_xgraph_is_output(xg, p) || read_by_subgraph(xg, p)) continue;
        int r1 = sole_reader(xg, p);
        if (r1 < 0) continue;
        pl_xnode *c1 = &xg->nodes[r1];
        int b1, b2;
        const pl_tensor *w1 = se_fc(xg, c1, p, &b1);
        if (!w1) continue;
        int q = c1->out[0];
        if (pl_xgraph_is_output(xg, q) || read_by_subgraph(xg, q)) continue;
        int r2 = sole_reader(xg, q);
        if (r2 < 0) continue;
        pl_xnode *c2 = &xg->nodes[r2];
        const pl_tensor *w2 = se_fc(xg, c2, q, &b2);
        if (!w2 || w2->dims[0] != w1->dims[1] || w2->dims[1] != w1->dims[0] || w2->rank != w1->rank) continue;
        bool ok = c2->n_post >= 1 && c1->n_post + c2->n_post - 1 <= PL_X_MAX_POST;
        for (int k = 0; ok && k < c1->n_post; k++) ok = pl_post_is_activation(c1->post[k].kind);
        for (int k = 0; ok && k < c2->n_post - 1; k++) ok = pl_post_is_activation(c2->post[k].kind);
        const pl_post *mul = ok ? &c2->post[c2->n_post - 1] : NULL;
        if (!mul || mul->kind != PL_POST_MUL || mul->arg != x) continue;
        int64_t R = w1->dims[0], C = w1->dims[1];
        /* W2 [C, R] transposed, so that fc2 runs as R rows of C (vectorized over channels) */
        pl_tensor *w2t;
        int64_t td[2] = {R, C};
        PL_TRY(pl_tensor_alloc(PL_DT_FLOAT, 2, td, &w2t));
        const float *src = w2->data;
        float *dst = w2t->data;
        for (int64_t c = 0; c < C; c++)
            for (int64_t k = 0; k < R; k++) dst[k * C + c] = src[c * R + k];
        int w2v;
        pl_status st = pl_xgraph_new_value(xg, &w2v);
        if (st != PL_OK) {
            pl_tensor_destroy(w2t);
            return st;
        }
        pl_xgraph_set_const(xg, w2v, w2t);
        pl_node *se;
        char name[512];
        snprintf(name, sizeof name, "%s (SqueezeExcitation)", g->node->name);
        PL_TRY(pl_xgraph_synth_node(xg, "SqueezeExcitation", name, 1, &se));
        PL_TRY(pl_xgraph_synth_attr_int(se, "fc1_posts", c1->n_post));
        int *in = realloc(g->in, 5 * sizeof *in);
        if (!in) return pl_err(PL_ERR_NOMEM, "out of memory");
        g->in = in;
        g->n_in = 5;
        in[0] = x;
        in[1] = c1->in[1];
        in[2] = b1;
        in[3] = w2v;
        in[4] = b2;
        g->node = se;
        g->op = se->op_type;
        g->out[0] = c2->out[0];
        g->n_post = 0;
        for (int k = 0; k < c1->n_post; k++) g->post[g->n_post++] = c1->post[k];
        for (int k = 0; k < c2->n_post - 1; k++) g->post[g->n_post++] = c2->post[k];
        c1->dead = c2->dead = true;
        PL_TRY(pl_xgraph_count_readers(xg));
        fused++;
        pl_xgraph_log(xg, "  se: GlobalAveragePool '%s', Conv '%s', Conv '%s' and Mul -> SqueezeExcitation (%lld -> %lld -> %lld channels)",
                      xg->g->nodes[g->orig_index].name, c1->node->name, c2->node->name, (long long)C, (long long)R,
                      (long long)C);
    }
    pl_xgraph_log(xg, "se: %d squeeze-excitation block(s) fused into SqueezeExcitation", fused);
    return PL_OK;
}

/* ---- 5. dead code ---- */

static pl_status pass_dce(pl_xgraph *xg) {
    int removed = 0;
    for (int n = xg->n_nodes - 1; n >= 0; n--) {
        pl_xnode *xn = &xg->nodes[n];
        if (xn->dead) continue;
        if (live_outputs(xg, xn, NULL) > 0) continue;
        xn->dead = true;
        removed++;
        pl_xgraph_log(xg, "  dce: %s '%s' (no output is read)", xn->op, xn->node->name);
        PL_TRY(pl_xgraph_count_readers(xg));
    }
    pl_xgraph_log(xg, "dce: %d node(s) removed", removed);
    return PL_OK;
}

pl_status pl_passes_run(pl_xgraph *xg) {
    PL_TRY(pass_eliminate(xg));
    PL_TRY(pass_fold(xg));
    PL_TRY(pass_layernorm(xg));
    PL_TRY(pass_bn_fold(xg));
    PL_TRY(pass_fuse(xg));
    PL_TRY(pass_se(xg));
    PL_TRY(pass_dce(xg));
    return pl_xgraph_count_readers(xg);
}
