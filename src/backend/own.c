/* own.c - plaster's own kernels as CPU-backend tactics, where neither oneDNN 2.6 nor the
 * reference kernels are fast enough: LayerNormalization over the last axis (what the
 * layernorm pass makes of exporters' decompositions), LSTM (own_lstm.c) and GRU (own_gru.c);
 * and SiLU applied after a oneDNN primitive (pl_own_silu_inplace). */
#include "cpu.h"
#include "own_rnn.h"

#include <omp.h>

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
extern const pl_tactic pl_tactic_own_se;   /* own_se.c */

const pl_tactic *const pl_own_tactics[] = {&pl_tactic_own_layernorm, &pl_tactic_own_lstm, &pl_tactic_own_gru,
                                           &pl_tactic_own_se, NULL};

/* ---- SiLU after a oneDNN primitive ----
 * oneDNN 2.6's fused swish post-op costs about 0.16 ns per element at 2 threads here (a
 * 16->96 1x1 convolution at 112x112: 0.119 ms alone, 0.307 ms with it); x * sigmoid(x) with
 * own_rnn.h's exp (3e-7 relative) as a separate pass over the output takes 0.12 ms. */

bool pl_own_silu_available(void) {
#ifdef OWN_RNN_AVX512
    const char *e = getenv("PL_OWN_SILU"); /* read when a primitive is made, not per run */
    return __builtin_cpu_supports("avx512f") && !(e && e[0] == '0');
#else
    return false;
#endif
}

#ifdef OWN_RNN_AVX512
static AVX512 void silu_range(float *d, int64_t n0, int64_t n1) {
    int64_t i = n0;
    for (; i + 16 <= n1; i += 16) {
        __m512 x = _mm512_loadu_ps(d + i);
        _mm512_storeu_ps(d + i, _mm512_mul_ps(x, sigmoid512(x)));
    }
    if (i < n1) {
        __mmask16 m = (__mmask16)((1u << (n1 - i)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(m, d + i);
        _mm512_mask_storeu_ps(d + i, m, _mm512_mul_ps(x, sigmoid512(x)));
    }
}
#endif

void pl_own_silu_inplace(float *d, int64_t n, bool serial) {
#ifdef OWN_RNN_AVX512
    int nt = serial || n < 65536 ? 1 : omp_get_max_threads();
    if (nt <= 1) {
        silu_range(d, 0, n);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), k = omp_get_num_threads();
        int64_t per = (n / k + 15) / 16 * 16, n0 = t * per, n1 = n0 + per < n ? n0 + per : n;
        if (n0 < n) silu_range(d, n0, n1);
    }
#else
    for (int64_t i = 0; i < n; i++) d[i] = d[i] / (1.0f + expf(-d[i]));
#endif
}
