/* own.c - plaster's own kernels as CPU-backend tactics, where neither oneDNN 2.6 nor the
 * reference kernels are fast enough: LayerNormalization over the last axis (what the
 * layernorm pass makes of exporters' decompositions), LSTM (own_lstm.c) and GRU (own_gru.c). */
#include "cpu.h"

#include <math.h>
#include <string.h>

static bool ln_accepts(const pl_xgraph *xg, const pl_xnode *xn) {
    if (xn->node->domain[0] || strcmp(xn->op, "LayerNormalization") || xn->n_in < 2) return false;
    if (pl_attr_int(xn->node, "axis", -1) != -1) return false;
    for (int o = 1; o < xn->n_out; o++)
        if (xn->out[o] >= 0 && xg->readers[xn->out[o]] > 0) return false; /* Mean, InvStdDev */
    const pl_tensor *g = xn->in[1] >= 0 ? xg->consts[xn->in[1]] : NULL;
    const pl_tensor *b = xn->n_in >= 3 && xn->in[2] >= 0 ? xg->consts[xn->in[2]] : NULL;
    if (!g || g->dtype != PL_DT_FLOAT || g->rank != 1) return false;
    if (xn->n_in >= 3 && xn->in[2] >= 0 && (!b || b->dtype != PL_DT_FLOAT || b->numel != g->numel)) return false;
    return true;
}

static pl_status ln_run(pl_xrun *r, pl_xnode *xn) {
    const pl_tensor *x;
    PL_TRY(pl_xrun_in(r, xn, 0, &x));
    const pl_xgraph *xg = pl_xrun_graph(r);
    const pl_tensor *g = xg->consts[xn->in[1]];
    const pl_tensor *b = xn->n_in >= 3 && xn->in[2] >= 0 ? xg->consts[xn->in[2]] : NULL;
    if (!x || x->dtype != PL_DT_FLOAT || x->rank < 1 || x->dims[x->rank - 1] != g->numel)
        return pl_tactic_reference.run(r, xn);
    int64_t n = g->numel, rows = n ? x->numel / n : 0;
    float eps = pl_attr_float(xn->node, "epsilon", 1e-5f);
    pl_tensor *y;
    PL_TRY(pl_xrun_out(r, xn, 0, PL_DT_FLOAT, x->rank, x->dims, &y));
    const float *gd = g->data, *bd = b ? b->data : NULL;
    for (int64_t i = 0; i < rows; i++) {
        const float *xr = (const float *)x->data + i * n;
        float *yr = (float *)y->data + i * n;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t k = 0; k < n; k++) s += xr[k];
        float mean = s / (float)n, v = 0;
#pragma omp simd reduction(+ : v)
        for (int64_t k = 0; k < n; k++) {
            float d = xr[k] - mean;
            v += d * d;
        }
        float inv = 1.0f / sqrtf(v / (float)n + eps);
        if (bd) {
#pragma omp simd
            for (int64_t k = 0; k < n; k++) yr[k] = (xr[k] - mean) * inv * gd[k] + bd[k];
        } else {
#pragma omp simd
            for (int64_t k = 0; k < n; k++) yr[k] = (xr[k] - mean) * inv * gd[k];
        }
    }
    return PL_OK;
}

const pl_tactic pl_tactic_own_layernorm = {.name = "plaster:layernorm", .accepts = ln_accepts, .run = ln_run};

extern const pl_tactic pl_tactic_own_lstm; /* own_lstm.c */
extern const pl_tactic pl_tactic_own_gru;  /* own_gru.c */

const pl_tactic *const pl_own_tactics[] = {&pl_tactic_own_layernorm, &pl_tactic_own_lstm, &pl_tactic_own_gru, NULL};
