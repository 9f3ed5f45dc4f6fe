/* own_rnn.c - plaster's own ONNX LSTM kernel (tactic plaster:lstm), for the small batches
 * where oneDNN 2.6's RNN primitive spends most of its time in overhead.
 *
 * Constant W and R are packed once per node (into xn->own_state) as k-major matrices
 * [K][4 * Hp] whose columns interleave the four gates (i, o, f, c) in blocks of 16 hidden
 * units: column ((j / 16) * 4 + g) * 16 + j % 16 holds gate g of unit j, Hp = H rounded up to
 * 16, padding zero. One tile of the recurrence thus holds every gate of 16 * U units in
 * registers, and the cell update runs on them before anything is stored. Per direction and
 * batch entry, X W^T + Wb + Rb is computed for every step with one small GEMM, then each step
 * adds h R^T and updates c and h. Batch entries are independent: with several threads, each
 * takes a contiguous share of them (no barrier per step).
 *
 * Accepted: float, constant W, R, B, P all zero or absent, no clip, input_forget 0, the
 * default activations, layouts 0 and 1, every direction. At run time other dtypes, shapes
 * that disagree, and sequence_lens other than all T go to the reference kernel; shapes where
 * oneDNN's primitive is faster (dnnl_is_faster) go to it when it is there. The AVX-512 kernel
 * runs where the CPU has AVX-512F; elsewhere a plain C version of the same loops does. */
#include "cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define LSTM_AVX512 1
#endif

#ifdef PL_HAVE_DNNL
extern const pl_tactic pl_tactic_dnnl_rnn;
#endif

#define VL 16 /* floats per block of hidden units (one AVX-512 vector) */

/* This kernel spreads batch entries over threads, oneDNN's primitive also splits each step's
 * GEMM: with several threads, few entries per thread and wide states (H >= 256), oneDNN is
 * faster (measured on Zen 4: H = 256, batch 8, 2 threads: 0.61 vs 0.74 ms; at one thread, or
 * H <= 128, or 16 entries per thread, this kernel is as fast or faster up to batch 256). */
#ifdef PL_HAVE_DNNL
static bool dnnl_is_faster(int64_t N, int64_t H, int threads) { return threads > 1 && H >= 256 && N < 16 * (int64_t)threads; }
#endif

/* ---- static checks ---- */

/* Absent, or (Sigmoid, Tanh, Tanh) once or once per direction. */
static bool default_activations(const pl_node *node, int dirs) {
    static const char *const dflt[3] = {"sigmoid", "tanh", "tanh"};
    const pl_attr *a = pl_node_attr(node, "activations");
    if (!a || a->n == 0) return true;
    if (a->type != PL_ATTR_STRINGS || (a->n != 3 && a->n != 3 * dirs)) return false;
    for (int i = 0; i < a->n; i++)
        if (strcasecmp(a->strings[i], dflt[i % 3])) return false;
    return true;
}

/* Input i as a constant float tensor, or NULL (absent or not constant: see `present`). */
static const pl_tensor *const_float(const pl_xgraph *xg, const pl_xnode *xn, int i, bool *present) {
    int v = i < xn->n_in ? xn->in[i] : -1;
    *present = v >= 0;
    const pl_tensor *t = v >= 0 ? xg->consts[v] : NULL;
    return t && t->dtype == PL_DT_FLOAT ? t : NULL;
}

static bool dims_are(const pl_tensor *t, int rank, const int64_t *dims) {
    if (t->rank != rank) return false;
    for (int d = 0; d < rank; d++)
        if (t->dims[d] != dims[d]) return false;
    return true;
}

static int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

static bool lstm_accepts(const pl_xgraph *xg, const pl_xnode *xn) {
    const pl_node *node = xn->node;
    if (node->domain[0] || strcmp(xn->op, "LSTM") || xn->n_post || xn->n_in < 3 || xn->n_in > 8 || xn->n_out > 3)
        return false;
    bool rev, present;
    int dirs = pl_rnn_directions(node, &rev);
    int64_t layout = pl_attr_int(node, "layout", 0);
    if (!dirs || (layout != 0 && layout != 1) || pl_node_attr(node, "clip")) return false;
    if (pl_attr_int(node, "input_forget", 0) || !default_activations(node, dirs)) return false;
    const pl_tensor *w = const_float(xg, xn, 1, &present), *r = const_float(xg, xn, 2, &present);
    if (!w || !r || w->rank != 3 || r->rank != 3) return false;
    int64_t H = r->dims[2], I = w->dims[2], D = dirs;
    /* packed weights stay well below 2 GiB */
    if (H <= 0 || I <= 0 || H > (1 << 16) || I > (1 << 20) || pl_attr_int(node, "hidden_size", H) != H) return false;
    if ((double)D * (double)(I + H + 1) * (double)round_up(H, VL) * 16.0 > (double)(1u << 31)) return false;
    if (!dims_are(w, 3, (int64_t[]){D, 4 * H, I}) || !dims_are(r, 3, (int64_t[]){D, 4 * H, H})) return false;
    const pl_tensor *b = const_float(xg, xn, 3, &present);
    if (present && (!b || !dims_are(b, 2, (int64_t[]){D, 8 * H}))) return false;
    const pl_tensor *p = const_float(xg, xn, 7, &present);
    if (present) {
        if (!p || !dims_are(p, 2, (int64_t[]){D, 3 * H})) return false;
        for (int64_t k = 0; k < p->numel; k++)
            if (((const float *)p->data)[k] != 0.0f) return false;
    }
    return true;
}

/* ---- packed weights (xn->own_state) ---- */

typedef struct lstm_pack {
    int dirs;
    int64_t I, H, Hp, G; /* G = 4 * Hp: the packed row width */
    float *w;            /* [D][I][G] */
    float *r;            /* [D][H][G] */
    float *b;            /* [D][G]: Wb + Rb */
} lstm_pack;

static int64_t packed_col(int g, int64_t j) { return ((j / VL) * 4 + g) * VL + j % VL; }

static void pack_free(void *state) {
    lstm_pack *p = state;
    if (!p) return;
    free(p->w);
    free(p->r);
    free(p->b);
    free(p);
}

/* ONNX [D, 4H, K] (gates i, o, f, c) as [D][K][G]. */
static void pack_matrix(const lstm_pack *p, const float *src, int64_t K, float *dst) {
    for (int d = 0; d < p->dirs; d++)
        for (int g = 0; g < 4; g++)
            for (int64_t j = 0; j < p->H; j++) {
                const float *row = src + ((int64_t)d * 4 * p->H + g * p->H + j) * K;
                float *out = dst + (int64_t)d * K * p->G + packed_col(g, j);
                for (int64_t k = 0; k < K; k++) out[k * p->G] = row[k];
            }
}

static float *zeroed(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *f = aligned_alloc(64, bytes ? bytes : 64);
    if (f) memset(f, 0, bytes);
    return f;
}

static pl_status pack_create(const pl_xgraph *xg, const pl_xnode *xn, lstm_pack **out) {
    bool rev, present;
    const pl_tensor *w = const_float(xg, xn, 1, &present), *r = const_float(xg, xn, 2, &present);
    const pl_tensor *b = const_float(xg, xn, 3, &present);
    lstm_pack *p = calloc(1, sizeof *p);
    if (!p) return pl_err(PL_ERR_NOMEM, "out of memory");
    p->dirs = pl_rnn_directions(xn->node, &rev);
    p->I = w->dims[2];
    p->H = r->dims[2];
    p->Hp = round_up(p->H, VL);
    p->G = 4 * p->Hp;
    size_t D = (size_t)p->dirs, G = (size_t)p->G;
    p->w = zeroed(D * (size_t)p->I * G);
    p->r = zeroed(D * (size_t)p->H * G);
    p->b = zeroed(D * G);
    if (!p->w || !p->r || !p->b) {
        pack_free(p);
        return pl_err(PL_ERR_NOMEM, "cannot allocate the packed LSTM weights of node '%s'", xn->node->name);
    }
    pack_matrix(p, w->data, p->I, p->w);
    pack_matrix(p, r->data, p->H, p->r);
    for (int d = 0; b && d < p->dirs; d++) {
        const float *wb = (const float *)b->data + (int64_t)d * 8 * p->H, *rb = wb + 4 * p->H;
        for (int g = 0; g < 4; g++)
            for (int64_t j = 0; j < p->H; j++) p->b[(int64_t)d * p->G + packed_col(g, j)] = wb[g * p->H + j] + rb[g * p->H + j];
    }
    *out = p;
    return PL_OK;
}

static pl_status pack_get(pl_xrun *r, pl_xnode *xn, const lstm_pack **out) {
    pl_status st = PL_OK;
    pthread_mutex_lock(&xn->lock);
    if (!xn->own_state) {
        lstm_pack *p;
        st = pack_create(pl_xrun_graph(r), xn, &p);
        if (st == PL_OK) {
            xn->own_state = p;
            xn->own_state_free = pack_free;
        }
    }
    *out = xn->own_state;
    pthread_mutex_unlock(&xn->lock);
    return st;
}

/* ---- one direction over a share of the batch ---- */

/* Where one direction reads and writes: row (n, t) of X is x + xrow(n, t) * I, and so on. */
typedef struct lstm_job {
    const lstm_pack *p;
    int64_t T, N;
    int d;       /* direction index */
    bool rev;    /* runs from t = T-1 down */
    int layout;
    const float *x, *h0, *c0; /* h0, c0: NULL for zeros */
    float *y, *yh, *yc;        /* NULL when not wanted */
    float *pre;  /* [N][T][G]: X W^T + B */
    float *h[2]; /* [N][Hp] each: h_{t-1} and h_t, alternating */
    float *c;    /* [N][Hp] */
} lstm_job;

static int64_t x_row(const lstm_job *j, int64_t n, int64_t t) { return j->layout ? n * j->T + t : t * j->N + n; }
static int64_t y_row(const lstm_job *j, int64_t n, int64_t t) {
    int64_t D = j->p->dirs;
    return j->layout ? (n * j->T + t) * D + j->d : (t * D + j->d) * j->N + n;
}
static int64_t state_row(const lstm_job *j, int64_t n) {
    return j->layout ? n * j->p->dirs + j->d : j->d * j->N + n;
}

/* Initial states of rows n0..n1 into the working buffers (padding lanes zero). */
static void load_states(const lstm_job *j, int64_t n0, int64_t n1) {
    int64_t H = j->p->H, Hp = j->p->Hp;
    for (int64_t n = n0; n < n1; n++) {
        float *h = j->h[0] + n * Hp, *c = j->c + n * Hp;
        memset(h, 0, (size_t)Hp * sizeof *h);
        memset(c, 0, (size_t)Hp * sizeof *c);
        if (j->h0) memcpy(h, j->h0 + state_row(j, n) * H, (size_t)H * sizeof *h);
        if (j->c0) memcpy(c, j->c0 + state_row(j, n) * H, (size_t)H * sizeof *c);
    }
}

/* Outputs of step t (Y) or of the last step (Y_h, Y_c) for rows n0..n1; h is that step's. */
static void store_y(const lstm_job *j, int64_t n0, int64_t n1, int64_t t, const float *h) {
    int64_t H = j->p->H, Hp = j->p->Hp;
    for (int64_t n = n0; n < n1; n++) memcpy(j->y + y_row(j, n, t) * H, h + n * Hp, (size_t)H * sizeof *h);
}

static void store_states(const lstm_job *j, int64_t n0, int64_t n1, const float *h) {
    int64_t H = j->p->H, Hp = j->p->Hp;
    for (int64_t n = n0; n < n1; n++) {
        if (j->yh) memcpy(j->yh + state_row(j, n) * H, h + n * Hp, (size_t)H * sizeof *h);
        if (j->yc) memcpy(j->yc + state_row(j, n) * H, j->c + n * Hp, (size_t)H * sizeof *h);
    }
}

/* -- plain C version -- */

static float sigmoid_c(float x) { return 1.0f / (1.0f + expf(-x)); }

static void run_rows_c(const lstm_job *j, int64_t n0, int64_t n1) {
    const lstm_pack *p = j->p;
    int64_t T = j->T, I = p->I, H = p->H, Hp = p->Hp, G = p->G;
    const float *w = p->w + j->d * I * G, *r = p->r + j->d * H * G, *b = p->b + j->d * G;
    for (int64_t n = n0; n < n1; n++)
        for (int64_t t = 0; t < T; t++) {
            const float *xr = j->x + x_row(j, n, t) * I;
            float *o = j->pre + (n * T + t) * G;
            memcpy(o, b, (size_t)G * sizeof *o);
            for (int64_t k = 0; k < I; k++)
                for (int64_t c = 0; c < G; c++) o[c] += xr[k] * w[k * G + c];
        }
    load_states(j, n0, n1);
    int cur = 0;
    for (int64_t s = 0; s < T; s++) {
        int64_t t = j->rev ? T - 1 - s : s;
        const float *hp = j->h[cur];
        float *hn = j->h[cur ^ 1];
        for (int64_t n = n0; n < n1; n++) {
            float *hrow = hn + n * Hp;
            for (int64_t jb = 0; jb < Hp; jb += VL) {
                float acc[4 * VL];
                memcpy(acc, j->pre + (n * T + t) * G + jb * 4, sizeof acc);
                for (int64_t k = 0; k < H; k++) {
                    float hk = hp[n * Hp + k];
                    const float *rr = r + k * G + jb * 4;
                    for (int c = 0; c < 4 * VL; c++) acc[c] += hk * rr[c];
                }
                for (int l = 0; l < VL; l++) {
                    float *cell = j->c + n * Hp + jb + l;
                    float gi = sigmoid_c(acc[l]), go = sigmoid_c(acc[VL + l]), gf = sigmoid_c(acc[2 * VL + l]);
                    *cell = gf * *cell + gi * tanhf(acc[3 * VL + l]);
                    hrow[jb + l] = go * tanhf(*cell);
                }
            }
        }
        if (j->y) store_y(j, n0, n1, t, hn);
        cur ^= 1;
    }
    store_states(j, n0, n1, j->h[cur]);
}

#ifdef LSTM_AVX512
/* -- AVX-512 version -- */

#define AVX512 __attribute__((target("avx512f")))
#define INLINE_AVX512 static inline __attribute__((always_inline, target("avx512f")))
/* the register tiles below only stay in registers when their loops are unrolled */
#define UNROLL _Pragma("GCC unroll 16")

/* exp(x) to about 3e-7 relative in [-87, 88] (x = n ln2 + r, |r| <= ln2/2, a degree-5
 * minimax polynomial for e^r, scaled by 2^n); saturates outside. */
INLINE_AVX512 __m512 exp512(__m512 x) {
    x = _mm512_max_ps(_mm512_set1_ps(-88.0f), _mm512_min_ps(_mm512_set1_ps(88.5f), x)); /* NaN passes */
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 y = _mm512_set1_ps(8.2917167e-3f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1915029e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6667663e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.9998900e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(9.9999964e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0000001f));
    return _mm512_scalef_ps(y, n);
}

/* 1 / d to about 1 ulp (rcp14 and one Newton step), d > 0 and finite. */
INLINE_AVX512 __m512 recip512(__m512 d) {
    __m512 e = _mm512_rcp14_ps(d);
    return _mm512_fmadd_ps(e, _mm512_fnmadd_ps(d, e, _mm512_set1_ps(1.0f)), e);
}

INLINE_AVX512 __m512 sigmoid512(__m512 x) {
    __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), x));
    return recip512(_mm512_add_ps(e, _mm512_set1_ps(1.0f)));
}

/* tanh to about 3e-7 relative: an odd rational minimax approximation (Eigen's ptanh) of x
 * clamped to +-7.9, where tanh is 1 to float precision. */
INLINE_AVX512 __m512 tanh512(__m512 x) {
    x = _mm512_max_ps(_mm512_set1_ps(-7.90531110763549805f), _mm512_min_ps(_mm512_set1_ps(7.90531110763549805f), x));
    __m512 z = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(-2.76076847742355e-16f);
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.00018790482477e-13f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-8.60467152213735e-11f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(5.12229709037114e-08f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.48572235717979e-05f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(6.37261928875436e-04f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(4.89352455891786e-03f));
    p = _mm512_mul_ps(p, x);
    __m512 q = _mm512_set1_ps(1.19825839466702e-06f);
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(1.18534705686654e-04f));
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(2.26843463243900e-03f));
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(4.89352518554385e-03f));
    return _mm512_mul_ps(p, recip512(q));
}

/* acc[m][v] = init[m][v * 16..] + sum_k a[m][k] * b[k][v * 16..] for MR rows and NV vectors;
 * a's rows are lda apart, init's ldi (0: one row for all). */
INLINE_AVX512 void tile_mac(int MR, int NV, int64_t K, const float *a, int64_t lda, const float *b, int64_t ldb,
                            const float *init, int64_t ldi, __m512 *acc) {
    UNROLL for (int m = 0; m < MR; m++)
        UNROLL for (int v = 0; v < NV; v++) acc[m * NV + v] = _mm512_loadu_ps(init + m * ldi + v * VL);
    for (int64_t k = 0; k < K; k++) {
        const float *bk = b + k * ldb;
        UNROLL for (int m = 0; m < MR; m++) {
            __m512 am = _mm512_set1_ps(a[m * lda + k]);
            UNROLL for (int v = 0; v < NV; v++) acc[m * NV + v] = _mm512_fmadd_ps(am, _mm512_loadu_ps(bk + v * VL), acc[m * NV + v]);
        }
    }
}

/* pre rows: C[m] = bias + A[m] W for MR rows, NV vectors at column c0. */
INLINE_AVX512 void gemm_tile(int MR, int NV, int64_t K, const float *a, int64_t lda, const float *w, int64_t G,
                             const float *bias, float *c) {
    __m512 acc[MR * NV];
    tile_mac(MR, NV, K, a, lda, w, G, bias, 0, acc);
    UNROLL for (int m = 0; m < MR; m++)
        UNROLL for (int v = 0; v < NV; v++) _mm512_storeu_ps(c + m * G + v * VL, acc[m * NV + v]);
}

/* One step for MR rows and U blocks of 16 units starting at block jb: gates = pre + h R,
 * then c and h of those units. h rows are Hp apart, pre rows ldp. */
INLINE_AVX512 void step_tile(int MR, int U, const lstm_pack *p, const float *r, int64_t jb, const float *hp,
                             const float *pre, int64_t ldp, float *c, float *hn) {
    __m512 acc[MR * 4 * U];
    int64_t off = jb * 4 * VL;
    tile_mac(MR, 4 * U, p->H, hp, p->Hp, r + off, p->G, pre + off, ldp, acc);
    UNROLL for (int m = 0; m < MR; m++)
        UNROLL for (int u = 0; u < U; u++) {
            const __m512 *g = acc + m * 4 * U + 4 * u;
            float *cm = c + m * p->Hp + (jb + u) * VL;
            __m512 gi = sigmoid512(g[0]), go = sigmoid512(g[1]), gf = sigmoid512(g[2]), gc = tanh512(g[3]);
            __m512 cn = _mm512_fmadd_ps(gf, _mm512_loadu_ps(cm), _mm512_mul_ps(gi, gc));
            _mm512_storeu_ps(cm, cn);
            _mm512_storeu_ps(hn + m * p->Hp + (jb + u) * VL, _mm512_mul_ps(go, tanh512(cn)));
        }
}

/* pre[n][t] for rows t = 0..T-1 of entry n. */
static AVX512 void input_gemm(const lstm_job *j, int64_t n) {
    const lstm_pack *p = j->p;
    int64_t T = j->T, I = p->I, G = p->G, lda = j->layout ? I : j->N * I;
    const float *w = p->w + j->d * I * G, *b = p->b + j->d * G;
    const float *a = j->x + x_row(j, n, 0) * I;
    float *out = j->pre + n * T * G;
    int64_t t = 0;
    for (; t + 6 <= T; t += 6)
        for (int64_t c = 0; c < G; c += 4 * VL) gemm_tile(6, 4, I, a + t * lda, lda, w + c, G, b + c, out + t * G + c);
    for (; t + 4 <= T; t += 4)
        for (int64_t c = 0; c < G; c += 4 * VL) gemm_tile(4, 4, I, a + t * lda, lda, w + c, G, b + c, out + t * G + c);
    for (; t < T; t++)
        for (int64_t c = 0; c < G; c += 4 * VL) gemm_tile(1, 4, I, a + t * lda, lda, w + c, G, b + c, out + t * G + c);
}

/* One step for rows n0..n1 (all blocks). */
static AVX512 void step_rows(const lstm_job *j, const float *r, int64_t n0, int64_t n1, int64_t t, const float *hp, float *hn) {
    const lstm_pack *p = j->p;
    int64_t nb = p->Hp / VL, Hp = p->Hp, ldp = j->T * p->G;
    const float *pre = j->pre + t * p->G;
    int64_t n = n0;
#define STEP(MR, U) step_tile(MR, U, p, r, jb, hp + n * Hp, pre + n * ldp, ldp, j->c + n * Hp, hn + n * Hp)
    for (; n + 6 <= n1; n += 6)
        for (int64_t jb = 0; jb < nb; jb++) STEP(6, 1);
    if (n1 - n == 5)
        for (int64_t jb = 0; jb < nb; jb++) STEP(5, 1);
    else if (n1 - n == 4)
        for (int64_t jb = 0; jb < nb; jb++) STEP(4, 1);
    else if (n1 - n == 3)
        for (int64_t jb = 0; jb < nb; jb++) STEP(3, 1);
    else if (n1 - n == 2) {
        int64_t jb = 0;
        for (; jb + 2 <= nb; jb += 2) STEP(2, 2);
        if (jb < nb) STEP(2, 1);
    } else if (n1 - n == 1) {
        int64_t jb = 0;
        for (; jb + 4 <= nb; jb += 4) STEP(1, 4);
        switch (nb - jb) {
        case 3: STEP(1, 3); break;
        case 2: STEP(1, 2); break;
        case 1: STEP(1, 1); break;
        default: break;
        }
    }
#undef STEP
}

static AVX512 void run_rows_avx512(const lstm_job *j, int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n++) input_gemm(j, n);
    load_states(j, n0, n1);
    const float *r = j->p->r + j->d * j->p->H * j->p->G;
    int cur = 0;
    for (int64_t s = 0; s < j->T; s++) {
        int64_t t = j->rev ? j->T - 1 - s : s;
        step_rows(j, r, n0, n1, t, j->h[cur], j->h[cur ^ 1]);
        if (j->y) store_y(j, n0, n1, t, j->h[cur ^ 1]);
        cur ^= 1;
    }
    store_states(j, n0, n1, j->h[cur]);
}
#endif

static void run_rows(const lstm_job *j, int64_t n0, int64_t n1) {
#ifdef LSTM_AVX512
    if (__builtin_cpu_supports("avx512f")) {
        run_rows_avx512(j, n0, n1);
        return;
    }
#endif
    run_rows_c(j, n0, n1);
}

/* ---- running ---- */

static bool wanted(const pl_xrun *r, const pl_xnode *xn, int i) {
    return i < xn->n_out && xn->out[i] >= 0 && pl_xgraph_readers(pl_xrun_graph(r), xn->out[i]) > 0;
}

static pl_status lstm_run(pl_xrun *r, pl_xnode *xn) {
    const pl_tensor *x, *lens, *h0, *c0;
    PL_TRY(pl_xrun_in(r, xn, 0, &x));
    PL_TRY(pl_xrun_in(r, xn, 4, &lens));
    PL_TRY(pl_xrun_in(r, xn, 5, &h0));
    PL_TRY(pl_xrun_in(r, xn, 6, &c0));
    bool rev;
    int D = pl_rnn_directions(xn->node, &rev);
    int layout = (int)pl_attr_int(xn->node, "layout", 0);
    const pl_xgraph *xg = pl_xrun_graph(r);
    int64_t H = xg->consts[xn->in[2]]->dims[2]; /* R [D, 4H, H] */
    if (!x || x->dtype != PL_DT_FLOAT || x->rank != 3) return pl_tactic_reference.run(r, xn);
    int64_t T = x->dims[layout ? 1 : 0], N = x->dims[layout ? 0 : 1], I = x->dims[2];
    if (T <= 0 || N <= 0 || I != xg->consts[xn->in[1]]->dims[2]) return pl_tactic_reference.run(r, xn);
    const int64_t *sd = layout ? (int64_t[]){N, D, H} : (int64_t[]){D, N, H};
    if ((h0 && (h0->dtype != PL_DT_FLOAT || !dims_are(h0, 3, sd))) || (c0 && (c0->dtype != PL_DT_FLOAT || !dims_are(c0, 3, sd))))
        return pl_tactic_reference.run(r, xn);
    if (lens) {
        if (!pl_dtype_is_int(lens->dtype) || lens->numel != N) return pl_tactic_reference.run(r, xn);
        for (int64_t b = 0; b < N; b++)
            if (pl_get_i64(lens, b) != T) return pl_tactic_reference.run(r, xn);
    }
#ifdef PL_HAVE_DNNL
    if (dnnl_is_faster(N, H, pl_xrun_threads(r)) && !xg->no_dnnl) return pl_tactic_dnnl_rnn.run(r, xn);
#endif
    const lstm_pack *p;
    PL_TRY(pack_get(r, xn, &p));

    pl_tensor *y = NULL, *yh = NULL, *yc = NULL;
    if (wanted(r, xn, 0)) {
        int64_t dims[4] = {T, D, N, H}, dims1[4] = {N, T, D, H};
        PL_TRY(pl_xrun_out(r, xn, 0, PL_DT_FLOAT, 4, layout ? dims1 : dims, &y));
    }
    pl_tensor **st[2] = {&yh, &yc};
    for (int i = 0; i < 2; i++)
        if (wanted(r, xn, 1 + i)) PL_TRY(pl_xrun_out(r, xn, 1 + i, PL_DT_FLOAT, 3, sd, st[i]));

    /* scratch: pre [N][T][G], then h, h', c [N][Hp] */
    size_t pre_n = (size_t)(N * T * p->G), st_n = (size_t)(N * p->Hp);
    size_t bytes = (pre_n + 3 * st_n) * sizeof(float);
    float *scratch = pl_xrun_scratch(r, 0, bytes);
    if (!scratch) return pl_err(PL_ERR_NOMEM, "cannot allocate %zu bytes of LSTM scratch", bytes);
    lstm_job job = {.p = p, .T = T, .N = N, .layout = layout, .x = x->data,
                    .h0 = h0 ? h0->data : NULL, .c0 = c0 ? c0->data : NULL,
                    .y = y ? y->data : NULL, .yh = yh ? yh->data : NULL, .yc = yc ? yc->data : NULL,
                    .pre = scratch, .h = {scratch + pre_n, scratch + pre_n + st_n}, .c = scratch + pre_n + 2 * st_n};
    int threads = pl_xrun_threads(r);
    int64_t shares = threads > 1 && N >= 8 ? (N < threads ? N : threads) : 1;
    for (int d = 0; d < D; d++) {
        job.d = d;
        job.rev = rev || d == 1;
        if (shares == 1) {
            run_rows(&job, 0, N);
            continue;
        }
#pragma omp parallel for num_threads((int)shares) schedule(static, 1)
        for (int64_t s = 0; s < shares; s++) run_rows(&job, N * s / shares, N * (s + 1) / shares);
    }
    return PL_OK;
}

const pl_tactic pl_tactic_own_lstm = {.name = "plaster:lstm", .accepts = lstm_accepts, .run = lstm_run};
