/* own_rnn.c - what plaster's own LSTM and GRU kernels (own_lstm.c, own_gru.c) share: the
 * static checks common to both ops, packing of constant W, R and B (layout in own_rnn.h),
 * reading a run's inputs and making its outputs (or handing the node to the reference or
 * oneDNN), the input GEMM X W^T + b of every step, and the schedule of directions and batch
 * shares over threads. */
#include "own_rnn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef PL_HAVE_DNNL
extern const pl_tactic pl_tactic_dnnl_rnn;

/* The own kernels spread directions and batch entries over threads, oneDNN's primitive also
 * splits each step's GEMM: with several threads per direction, few entries per thread and wide
 * states (H >= 256), oneDNN is faster (LSTM measured on Zen 4: H = 256, batch 8, 2 threads:
 * 0.61 vs 0.74 ms; at one thread, or H <= 128, or 16 entries per thread, the own kernel is as
 * fast or faster up to batch 256). A GRU step is 3/4 of an LSTM step for both, so the same
 * rule holds. A bidirectional node's directions each get half the threads: at 2 threads each
 * runs alone on one, as at one thread. */
static bool dnnl_is_faster(int64_t N, int64_t H, int dirs, int threads) {
    int per_dir = dirs > 1 && threads > 1 ? threads / dirs : threads;
    return per_dir > 1 && H >= 256 && N < 16 * (int64_t)per_dir;
}
#endif

/* ---- static checks ---- */

/* Absent, or the defaults once or once per direction. */
static bool default_activations(const pl_node *node, const pl_own_rnn_kind *k, int dirs) {
    const pl_attr *a = pl_node_attr(node, "activations");
    if (!a || a->n == 0) return true;
    if (a->type != PL_ATTR_STRINGS || (a->n != k->n_act && a->n != k->n_act * dirs)) return false;
    for (int i = 0; i < a->n; i++)
        if (strcasecmp(a->strings[i], k->activations[i % k->n_act])) return false;
    return true;
}

const pl_tensor *pl_own_rnn_const(const pl_xgraph *xg, const pl_xnode *xn, int i, bool *present) {
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

bool pl_own_rnn_accepts(const pl_xgraph *xg, const pl_xnode *xn, const pl_own_rnn_kind *k) {
    const pl_node *node = xn->node;
    if (node->domain[0] || strcmp(xn->op, k->op) || xn->n_post || xn->n_in < 3 || xn->n_in > k->max_in ||
        xn->n_out > k->max_out)
        return false;
    bool rev, present;
    int dirs = pl_rnn_directions(node, &rev);
    int64_t layout = pl_attr_int(node, "layout", 0);
    if (!dirs || (layout != 0 && layout != 1) || pl_node_attr(node, "clip") || !default_activations(node, k, dirs))
        return false;
    const pl_tensor *w = pl_own_rnn_const(xg, xn, 1, &present), *r = pl_own_rnn_const(xg, xn, 2, &present);
    if (!w || !r || w->rank != 3 || r->rank != 3) return false;
    int64_t H = r->dims[2], I = w->dims[2], D = dirs, gh = k->gates * H;
    /* packed weights stay well below 2 GiB */
    if (H <= 0 || I <= 0 || H > (1 << 16) || I > (1 << 20) || pl_attr_int(node, "hidden_size", H) != H) return false;
    if ((double)D * (double)(I + H + 1) * (double)round_up(H, VL) * 4.0 * k->gates > (double)(1u << 31)) return false;
    if (!dims_are(w, 3, (int64_t[]){D, gh, I}) || !dims_are(r, 3, (int64_t[]){D, gh, H})) return false;
    const pl_tensor *b = pl_own_rnn_const(xg, xn, 3, &present);
    return !present || (b && dims_are(b, 2, (int64_t[]){D, 2 * gh}));
}

/* ---- packed weights (xn->own_state) ---- */

static int64_t packed_col(const pl_own_rnn_pack *p, int g, int64_t j) {
    return ((j / VL) * p->gates + g) * VL + j % VL;
}

static void pack_free(void *state) {
    pl_own_rnn_pack *p = state;
    if (!p) return;
    free(p->w);
    free(p->r);
    free(p->b);
    free(p->rb);
    free(p);
}

/* ONNX [D, gates H, K] as [D][K][G]. */
static void pack_matrix(const pl_own_rnn_pack *p, const float *src, int64_t K, float *dst) {
    for (int d = 0; d < p->dirs; d++)
        for (int g = 0; g < p->gates; g++)
            for (int64_t j = 0; j < p->H; j++) {
                const float *row = src + ((int64_t)d * p->gates * p->H + g * p->H + j) * K;
                float *out = dst + (int64_t)d * K * p->G + packed_col(p, g, j);
                for (int64_t k = 0; k < K; k++) out[k * p->G] = row[k];
            }
}

static float *zeroed(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *f = aligned_alloc(64, bytes ? bytes : 64);
    if (f) memset(f, 0, bytes);
    return f;
}

/* B [D, 2 gates H] (Wb then Rb) into p->b and p->rb. */
static void pack_bias(pl_own_rnn_pack *p, const float *bias) {
    int64_t H = p->H, gh = p->gates * H;
    for (int d = 0; d < p->dirs; d++) {
        const float *wb = bias + d * 2 * gh, *rb = wb + gh;
        for (int g = 0; g < p->gates; g++) {
            bool apart = p->rb && g == p->gates - 1;
            for (int64_t j = 0; j < H; j++)
                p->b[d * p->G + packed_col(p, g, j)] = wb[g * H + j] + (apart ? 0.0f : rb[g * H + j]);
        }
        if (p->rb) memcpy(p->rb + d * p->Hp, rb + (p->gates - 1) * H, (size_t)H * sizeof *p->rb);
    }
}

static bool plain_forced(void) {
    const char *e = getenv("PL_OWN_RNN_PLAIN");
    return e && e[0] && strcmp(e, "0");
}

static pl_status pack_create(const pl_xgraph *xg, const pl_xnode *xn, const pl_own_rnn_kind *k, bool rb_apart,
                             pl_own_rnn_pack **out) {
    bool rev, present;
    const pl_tensor *w = pl_own_rnn_const(xg, xn, 1, &present), *r = pl_own_rnn_const(xg, xn, 2, &present);
    const pl_tensor *b = pl_own_rnn_const(xg, xn, 3, &present);
    pl_own_rnn_pack *p = calloc(1, sizeof *p);
    if (!p) return pl_err(PL_ERR_NOMEM, "out of memory");
    p->dirs = pl_rnn_directions(xn->node, &rev);
    p->gates = k->gates;
    p->I = w->dims[2];
    p->H = r->dims[2];
    p->Hp = round_up(p->H, VL);
    p->G = p->gates * p->Hp;
    size_t D = (size_t)p->dirs, G = (size_t)p->G;
    p->w = zeroed(D * (size_t)p->I * G);
    p->r = zeroed(D * (size_t)p->H * G);
    p->b = zeroed(D * G);
    if (rb_apart) p->rb = zeroed(D * (size_t)p->Hp);
    if (!p->w || !p->r || !p->b || (rb_apart && !p->rb)) {
        pack_free(p);
        return pl_err(PL_ERR_NOMEM, "cannot allocate the packed %s weights of node '%s'", k->op, xn->node->name);
    }
    pack_matrix(p, w->data, p->I, p->w);
    pack_matrix(p, r->data, p->H, p->r);
    if (b) pack_bias(p, b->data);
#ifdef OWN_RNN_AVX512
    p->plain = !__builtin_cpu_supports("avx512f") || plain_forced();
#else
    p->plain = true;
    (void)plain_forced;
#endif
    *out = p;
    return PL_OK;
}

pl_status pl_own_rnn_pack_get(pl_xrun *r, pl_xnode *xn, const pl_own_rnn_kind *k, bool rb_apart,
                              const pl_own_rnn_pack **out) {
    pl_status st = PL_OK;
    pthread_mutex_lock(&xn->lock);
    if (!xn->own_state) {
        pl_own_rnn_pack *p;
        st = pack_create(pl_xrun_graph(r), xn, k, rb_apart, &p);
        if (st == PL_OK) {
            xn->own_state = p;
            xn->own_state_free = pack_free;
        }
    }
    *out = xn->own_state;
    pthread_mutex_unlock(&xn->lock);
    return st;
}

/* ---- a run's inputs and outputs ---- */

static bool wanted(const pl_xrun *r, const pl_xnode *xn, int i) {
    return i < xn->n_out && xn->out[i] >= 0 && pl_xgraph_readers(pl_xrun_graph(r), xn->out[i]) > 0;
}

static bool is_state(const pl_tensor *t, const int64_t *dims) { return !t || (t->dtype == PL_DT_FLOAT && dims_are(t, 3, dims)); }

pl_status pl_own_rnn_begin(pl_xrun *r, pl_xnode *xn, const pl_own_rnn_kind *k, pl_own_rnn_io *io,
                           const pl_tactic **handoff) {
    memset(io, 0, sizeof *io);
    *handoff = &pl_tactic_reference;
    const pl_tensor *x, *lens, *h0, *c0 = NULL;
    PL_TRY(pl_xrun_in(r, xn, 0, &x));
    PL_TRY(pl_xrun_in(r, xn, 4, &lens));
    PL_TRY(pl_xrun_in(r, xn, 5, &h0));
    if (k->max_in > 6) PL_TRY(pl_xrun_in(r, xn, 6, &c0));
    bool rev;
    io->dirs = pl_rnn_directions(xn->node, &rev);
    io->rev = rev;
    io->layout = (int)pl_attr_int(xn->node, "layout", 0);
    const pl_xgraph *xg = pl_xrun_graph(r);
    int64_t D = io->dirs, H = io->H = xg->consts[xn->in[2]]->dims[2]; /* R [D, gates H, H] */
    if (!x || x->dtype != PL_DT_FLOAT || x->rank != 3) return PL_OK;
    int64_t T = io->T = x->dims[io->layout ? 1 : 0], N = io->N = x->dims[io->layout ? 0 : 1];
    io->I = x->dims[2];
    if (T <= 0 || N <= 0 || io->I != xg->consts[xn->in[1]]->dims[2]) return PL_OK;
    const int64_t *sd = io->layout ? (int64_t[]){N, D, H} : (int64_t[]){D, N, H};
    if (!is_state(h0, sd) || !is_state(c0, sd)) return PL_OK;
    if (lens) {
        if (!pl_dtype_is_int(lens->dtype) || lens->numel != N) return PL_OK;
        for (int64_t b = 0; b < N; b++)
            if (pl_get_i64(lens, b) != T) return PL_OK;
    }
#ifdef PL_HAVE_DNNL
    if (dnnl_is_faster(N, H, io->dirs, pl_xrun_threads(r)) && !xg->no_dnnl) {
        *handoff = &pl_tactic_dnnl_rnn;
        return PL_OK;
    }
#endif
    *handoff = NULL;
    io->x = x->data;
    io->h0 = h0 ? h0->data : NULL;
    io->c0 = c0 ? c0->data : NULL;
    pl_tensor *out[3] = {NULL, NULL, NULL};
    if (wanted(r, xn, 0)) {
        int64_t dims[4] = {T, D, N, H}, dims1[4] = {N, T, D, H};
        PL_TRY(pl_xrun_out(r, xn, 0, PL_DT_FLOAT, 4, io->layout ? dims1 : dims, &out[0]));
    }
    for (int i = 1; i < k->max_out; i++)
        if (wanted(r, xn, i)) PL_TRY(pl_xrun_out(r, xn, i, PL_DT_FLOAT, 3, sd, &out[i]));
    io->y = out[0] ? out[0]->data : NULL;
    io->yh = out[1] ? out[1]->data : NULL;
    io->yc = out[2] ? out[2]->data : NULL;
    return PL_OK;
}

void pl_own_rnn_load(const pl_own_rnn_io *io, const pl_own_rnn_pack *p, int d, int64_t n0, int64_t n1, float *h,
                     float *c) {
    int64_t H = p->H, Hp = p->Hp;
    for (int64_t n = n0; n < n1; n++) {
        memset(h + n * Hp, 0, (size_t)Hp * sizeof *h);
        if (io->h0) memcpy(h + n * Hp, io->h0 + pl_own_rnn_state_row(io, d, n) * H, (size_t)H * sizeof *h);
        if (!c) continue;
        memset(c + n * Hp, 0, (size_t)Hp * sizeof *c);
        if (io->c0) memcpy(c + n * Hp, io->c0 + pl_own_rnn_state_row(io, d, n) * H, (size_t)H * sizeof *c);
    }
}

void pl_own_rnn_store_y(const pl_own_rnn_io *io, const pl_own_rnn_pack *p, int d, int64_t n0, int64_t n1, int64_t t,
                        const float *h) {
    int64_t H = p->H, Hp = p->Hp;
    if (!io->y) return;
    for (int64_t n = n0; n < n1; n++) memcpy(io->y + pl_own_rnn_y_row(io, d, n, t) * H, h + n * Hp, (size_t)H * sizeof *h);
}

void pl_own_rnn_store_states(const pl_own_rnn_io *io, const pl_own_rnn_pack *p, int d, int64_t n0, int64_t n1,
                             const float *h, const float *c) {
    int64_t H = p->H, Hp = p->Hp;
    for (int64_t n = n0; n < n1; n++) {
        int64_t row = pl_own_rnn_state_row(io, d, n);
        if (io->yh) memcpy(io->yh + row * H, h + n * Hp, (size_t)H * sizeof *h);
        if (io->yc && c) memcpy(io->yc + row * H, c + n * Hp, (size_t)H * sizeof *c);
    }
}

/* ---- the input GEMM ---- */

static void input_gemm_c(const pl_own_rnn_io *io, const pl_own_rnn_pack *p, int d, int64_t n0, int64_t n1, float *pre) {
    int64_t T = io->T, I = p->I, G = p->G;
    const float *w = p->w + d * I * G, *b = p->b + d * G;
    for (int64_t n = n0; n < n1; n++)
        for (int64_t t = 0; t < T; t++) {
            const float *xr = io->x + pl_own_rnn_x_row(io, n, t) * I;
            float *o = pre + (n * T + t) * G;
            memcpy(o, b, (size_t)G * sizeof *o);
            for (int64_t k = 0; k < I; k++)
                for (int64_t c = 0; c < G; c++) o[c] += xr[k] * w[k * G + c];
        }
}

#ifdef OWN_RNN_AVX512
/* C[m] = bias + A[m] W for MR rows, NV vectors. */
INLINE_AVX512 void gemm_tile(int MR, int NV, int64_t K, const float *a, int64_t lda, const float *w, int64_t G,
                             const float *bias, float *c) {
    __m512 acc[MR * NV];
    tile_mac(MR, NV, K, a, lda, w, G, bias, 0, acc);
    UNROLL for (int m = 0; m < MR; m++)
        UNROLL for (int v = 0; v < NV; v++) _mm512_storeu_ps(c + m * G + v * VL, acc[m * NV + v]);
}

/* MR rows of pre over every column: 4 vectors at a time, then the 1 to 3 left. */
INLINE_AVX512 void gemm_rows(int MR, int64_t I, const float *a, int64_t lda, const float *w, int64_t G,
                             const float *b, float *out) {
    int64_t c = 0;
    for (; c + 4 * VL <= G; c += 4 * VL) gemm_tile(MR, 4, I, a, lda, w + c, G, b + c, out + c);
    switch ((G - c) / VL) {
    case 3: gemm_tile(MR, 3, I, a, lda, w + c, G, b + c, out + c); break;
    case 2: gemm_tile(MR, 2, I, a, lda, w + c, G, b + c, out + c); break;
    case 1: gemm_tile(MR, 1, I, a, lda, w + c, G, b + c, out + c); break;
    default: break;
    }
}

static AVX512 void input_gemm_avx512(const pl_own_rnn_io *io, const pl_own_rnn_pack *p, int d, int64_t n0, int64_t n1,
                                     float *pre) {
    int64_t T = io->T, I = p->I, G = p->G, lda = io->layout ? I : io->N * I;
    const float *w = p->w + d * I * G, *b = p->b + d * G;
    for (int64_t n = n0; n < n1; n++) {
        const float *a = io->x + pl_own_rnn_x_row(io, n, 0) * I;
        float *out = pre + n * T * G;
        int64_t t = 0;
        for (; t + 6 <= T; t += 6) gemm_rows(6, I, a + t * lda, lda, w, G, b, out + t * G);
        for (; t + 4 <= T; t += 4) gemm_rows(4, I, a + t * lda, lda, w, G, b, out + t * G);
        for (; t < T; t++) gemm_rows(1, I, a + t * lda, lda, w, G, b, out + t * G);
    }
}
#endif

void pl_own_rnn_input_gemm(const pl_own_rnn_io *io, const pl_own_rnn_pack *p, int d, int64_t n0, int64_t n1,
                           float *pre) {
#ifdef OWN_RNN_AVX512
    if (!p->plain) {
        input_gemm_avx512(io, p, d, n0, n1, pre);
        return;
    }
#endif
    input_gemm_c(io, p, d, n0, n1, pre);
}

/* ---- threads ---- */

void pl_own_rnn_schedule(const pl_own_rnn_io *io, int threads, void (*run)(const void *job, int64_t n0, int64_t n1),
                         const void *const *jobs) {
    int64_t N = io->N;
    int together = io->dirs > 1 && threads > 1 ? io->dirs : 1; /* directions run at once */
    int per_dir = threads / together;
    int64_t shares = per_dir > 1 && N >= 8 ? (N < per_dir ? N : per_dir) : 1;
    int64_t items = together * shares;
    for (int d0 = 0; d0 < io->dirs; d0 += together) {
        if (items == 1) {
            run(jobs[d0], 0, N);
            continue;
        }
#pragma omp parallel for num_threads((int)items) schedule(static, 1)
        for (int64_t it = 0; it < items; it++) {
            int64_t s = it % shares;
            run(jobs[d0 + it / shares], N * s / shares, N * (s + 1) / shares);
        }
    }
}
