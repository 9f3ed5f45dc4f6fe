/* cpu_engine.c - building the CPU backend's engine: the x-graph, its passes, and a tactic
 * per node, timed on this machine when asked (TensorRT's "tactic selection"). */
#include "cpu.h"
#ifdef PL_HAVE_DNNL
#include "dnnl/dnnl_util.h"
extern const pl_tactic *const pl_dnnl_tactics[];
#endif

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const pl_tactic *const pl_own_tactics[];

/* Whether PL_TACTICS_OFF (a comma-separated list of tactic names, for experiments and A/B
 * measurements) names the tactic called `name`; the reference tactic cannot be turned off. */
bool pl_tactic_name_off(const char *name) {
    const char *e = getenv("PL_TACTICS_OFF");
    size_t n = strlen(name);
    for (const char *p = e; p && *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return true;
        p = c ? c + 1 : NULL;
    }
    return false;
}

static bool tactic_off(const pl_tactic *t) { return pl_tactic_name_off(t->name); }

int pl_tactics_for(const pl_xgraph *xg, const pl_xnode *xn, const pl_tactic **out, int cap) {
    int n = 0;
    for (int i = 0; pl_own_tactics[i] && n < cap; i++)
        if (pl_own_tactics[i]->accepts(xg, xn) && !tactic_off(pl_own_tactics[i])) out[n++] = pl_own_tactics[i];
#ifdef PL_HAVE_DNNL
    for (int i = 0; !xg->no_dnnl && pl_dnnl_tactics[i] && n < cap; i++)
        if (pl_dnnl_tactics[i]->accepts(xg, xn) && !tactic_off(pl_dnnl_tactics[i])) out[n++] = pl_dnnl_tactics[i];
#endif
    if (n < cap && pl_tactic_reference.accepts(xg, xn)) out[n++] = &pl_tactic_reference;
    return n;
}

/* Whether t is one of the oneDNN tactics (not plaster's own, not the reference). */
static bool needs_dnnl(const pl_tactic *t) {
#ifdef PL_HAVE_DNNL
    for (int i = 0; pl_dnnl_tactics[i]; i++)
        if (pl_dnnl_tactics[i] == t) return true;
#endif
    (void)t;
    return false;
}

static const pl_tactic *tactic_named(const char *name) {
    for (int i = 0; pl_own_tactics[i]; i++)
        if (!strcmp(pl_own_tactics[i]->name, name)) return pl_own_tactics[i];
#ifdef PL_HAVE_DNNL
    for (int i = 0; pl_dnnl_tactics[i]; i++)
        if (!strcmp(pl_dnnl_tactics[i]->name, name)) return pl_dnnl_tactics[i];
#endif
    if (!strcmp(name, pl_tactic_reference.name)) return &pl_tactic_reference;
    return NULL;
}

/* Inputs for the timing run: declared shapes, symbolic or unknown dims bound to `batch` for
 * the first axis and 1 elsewhere; floats uniform in [-1, 1), integers and bools zero. */
static pl_status timing_inputs(const pl_model *m, int64_t batch, pl_tensor ***out) {
    const pl_graph *g = m->graph;
    pl_tensor **in = calloc(g->n_inputs ? (size_t)g->n_inputs : 1, sizeof *in);
    if (!in) return pl_err(PL_ERR_NOMEM, "out of memory");
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < g->n_inputs; i++) {
        const pl_value *v = &g->values[g->inputs[i]];
        if (v->init) {
            in[i] = v->init;
            continue;
        }
        const pl_value_info *info = &v->info;
        if (info->kind != PL_KIND_TENSOR || info->optional || info->rank < 0 || info->dtype == PL_DT_UNDEFINED ||
            info->dtype == PL_DT_STRING) {
            for (int k = 0; k < i; k++)
                if (!g->values[g->inputs[k]].init) pl_tensor_destroy(in[k]);
            free(in);
            return pl_err(PL_ERR_UNSUPPORTED, "input '%s' has no declared tensor shape to time tactics with", v->name);
        }
        int64_t dims[PL_MAX_RANK];
        for (int d = 0; d < info->rank; d++) dims[d] = info->dims[d] >= 0 ? info->dims[d] : d == 0 ? batch : 1;
        pl_status st = pl_tensor_create(info->dtype, info->rank, dims, &in[i]);
        if (st != PL_OK) {
            for (int k = 0; k < i; k++)
                if (!g->values[g->inputs[k]].init) pl_tensor_destroy(in[k]);
            free(in);
            return st;
        }
        if (info->dtype == PL_DT_FLOAT) {
            float *d = in[i]->data;
            for (int64_t k = 0; k < in[i]->numel; k++) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                d[k] = (float)((double)(seed >> 11) / 9007199254740992.0 * 2.0 - 1.0);
            }
        }
    }
    *out = in;
    return PL_OK;
}

static void count_choices(pl_xgraph *xg) {
    const char *names[16];
    int counts[16], nn = 0;
    for (int n = 0; n < xg->n_nodes; n++) {
        const pl_xnode *xn = &xg->nodes[n];
        if (xn->dead || !xn->tactic) continue;
        int k = 0;
        while (k < nn && strcmp(names[k], xn->tactic->name)) k++;
        if (k == nn && nn < 16) {
            names[nn] = xn->tactic->name;
            counts[nn++] = 0;
        }
        if (k < nn) counts[k]++;
    }
    char line[512];
    int len = snprintf(line, sizeof line, "tactics:");
    for (int k = 0; k < nn && len < (int)sizeof line; k++)
        len += snprintf(line + len, sizeof line - (size_t)len, "%s %d node(s) on %s", k ? "," : "", counts[k], names[k]);
    pl_xgraph_log(xg, "%s", line);
}

pl_status pl_cpu_engine_build(const pl_model *m, const pl_cpu_build_opts *o, pl_cpu_engine **out) {
    *out = NULL;
    double t0 = pl_cpu_now_ns();
    pl_cpu_build_opts def = {0};
    if (!o) o = &def;
    pl_cpu_engine *ce = calloc(1, sizeof *ce);
    if (!ce) return pl_err(PL_ERR_NOMEM, "out of memory");
    ce->threads = o->threads;
    ce->build_batch = o->batch > 0 ? o->batch : 1;
#ifdef PL_HAVE_DNNL
    ce->dnnl = !o->no_dnnl;
    if (ce->dnnl && !pl_dnnl_engine()) {
        free(ce);
        return pl_err(PL_ERR_INTERNAL, "oneDNN's CPU engine cannot be created");
    }
#endif
    pl_status st = pl_xgraph_create(m, &ce->xg);
    if (st == PL_OK) st = pl_passes_run(ce->xg);
    pl_xgraph *xg = ce->xg;
    if (xg) xg->no_dnnl = !ce->dnnl;
    int live = 0;
    for (int n = 0; st == PL_OK && xg && n < xg->n_nodes; n++) {
        pl_xnode *xn = &xg->nodes[n];
        if (xn->dead) continue;
        if (o->forced) {
            if (live >= o->n_forced) {
                st = pl_err(PL_ERR_INVALID, "the plan names tactics for %d nodes, the optimized graph has more", o->n_forced);
                break;
            }
            const pl_tactic *t = tactic_named(o->forced[live]);
            if (!t || !t->accepts(xg, xn) || (!ce->dnnl && needs_dnnl(t))) {
                st = pl_err(PL_ERR_INVALID, "the plan's tactic '%s' for node '%s' (%s) is not available here",
                            o->forced[live], xn->node->name, xn->op);
                break;
            }
            xn->tactic = t;
        } else {
            const pl_tactic *cand[8];
            int nc = pl_tactics_for(xg, xn, cand, 8);
            if (nc == 0) {
                st = pl_err(PL_ERR_UNSUPPORTED, "%s: op %s%s%s (opset %lld) of node '%s' is not supported by the cpu backend",
                            m->path ? m->path : "model", xn->node->domain, xn->node->domain[0] ? "::" : "", xn->op,
                            (long long)xn->node->opset, xn->node->name);
                break;
            }
            xn->tactic = cand[0];
        }
        live++;
    }
    if (st == PL_OK && o->forced && live != o->n_forced)
        st = pl_err(PL_ERR_INVALID, "the plan names tactics for %d nodes, the optimized graph has %d", o->n_forced, live);
    if (st == PL_OK && o->time_tactics && !o->forced) {
        pl_tensor **in = NULL;
        pl_status ts = timing_inputs(m, ce->build_batch, &in);
        void *state = NULL;
        int n_out = m->graph->n_outputs;
        pl_tensor **outs = calloc(n_out ? (size_t)n_out : 1, sizeof *outs);
        if (ts == PL_OK && !outs) ts = pl_err(PL_ERR_NOMEM, "out of memory");
        if (ts == PL_OK) ts = pl_cpu_run_ex(ce, &state, NULL, NULL, true, m->graph->n_inputs, in, n_out, outs);
        for (int i = 0; outs && i < n_out; i++) pl_tensor_destroy(outs[i]);
        free(outs);
        pl_cpu_ctx_state_free(state);
        for (int i = 0; in && i < m->graph->n_inputs; i++)
            if (!m->graph->values[m->graph->inputs[i]].init) pl_tensor_destroy(in[i]);
        free(in);
        if (ts != PL_OK) {
            pl_xgraph_log(xg, "tactics: not timed (%s); each node keeps its first candidate", pl_last_error());
            pl_err_clear();
            for (int n = 0; n < xg->n_nodes; n++) {
                pl_xnode *xn = &xg->nodes[n];
                const pl_tactic *cand[8];
                if (!xn->dead && pl_tactics_for(xg, xn, cand, 8) > 0) xn->tactic = cand[0];
                memset(xn->tactic_ns, 0, sizeof xn->tactic_ns);
            }
        } else {
            pl_xgraph_log(xg, "tactics: timed every candidate at batch %lld on this machine", (long long)ce->build_batch);
        }
    }
    if (st == PL_OK) count_choices(xg);
    if (st != PL_OK) {
        pl_cpu_engine_free(ce);
        return st;
    }
    ce->build_ns = pl_cpu_now_ns() - t0;
    *out = ce;
    return PL_OK;
}

void pl_cpu_engine_free(pl_cpu_engine *ce) {
    if (!ce) return;
    pl_xgraph_free(ce->xg);
    free(ce);
}
