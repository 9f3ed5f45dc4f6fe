/* own_gru.c - plaster's own ONNX GRU kernel (tactic plaster:gru), for the small batches
 * where oneDNN 2.6's RNN primitive spends most of its time in overhead.
 *
 * Constant W and R are packed once per node (into xn->own_state; own_rnn.h) as k-major
 * matrices [K][3 * Hp] whose columns interleave the gates (z, r, h) in blocks of 16 hidden
 * units. Per direction and batch entry, X W^T + b is computed for every step with one small
 * GEMM (b: Wb + Rb for z and r; Wb_h, plus Rb_h when linear_before_reset is 0). Each step then:
 *  - linear_before_reset != 0 (what PyTorch exports): one register tile over the three gates
 *    of 16 * U units, acc = h_{t-1} R^T, then on those registers z = f(pre_z + acc_z),
 *    r = f(pre_r + acc_r), h~ = g(pre_h + r (.) (acc_h + Rb_h)), h = h~ + z (.) (h_{t-1} - h~);
 *  - linear_before_reset = 0: first z and r (.) h_{t-1} for every unit (tiles over the z and r
 *    columns), stored, then h~ = g(pre_h + (r (.) h_{t-1}) R_h^T) and h (tiles over the h
 *    columns), since every unit's h~ reads all of r (.) h_{t-1}.
 * f = sigmoid, g = tanh. Directions and batch entries are independent: a bidirectional node
 * runs its directions on two threads at once, and a direction with 8+ entries splits them
 * among its threads (pl_own_rnn_schedule; no barrier per step).
 *
 * Accepted: float, constant W, R (and B when present), no clip, the default activations
 * (Sigmoid, Tanh), either linear_before_reset, layouts 0 and 1, every direction. At run time
 * other dtypes, shapes that disagree, and sequence_lens other than all T go to the reference
 * kernel; shapes where oneDNN's primitive is faster go to it when it is there
 * (pl_own_rnn_begin). The AVX-512 kernel runs where the CPU has AVX-512F; elsewhere (or with
 * PL_OWN_RNN_PLAIN=1) a plain C version of the same loops does. */
#include "own_rnn.h"

#include <math.h>
#include <string.h>

static const char *const gru_activations[2] = {"sigmoid", "tanh"};
static const pl_own_rnn_kind gru_kind = {
    .op = "GRU", .gates = 3, .max_in = 6, .max_out = 2, .n_act = 2, .activations = gru_activations};

static bool gru_accepts(const pl_xgraph *xg, const pl_xnode *xn) { return pl_own_rnn_accepts(xg, xn, &gru_kind); }

/* ---- one direction over a share of the batch ---- */

typedef struct gru_job {
    const pl_own_rnn_pack *p;
    const pl_own_rnn_io *io;
    int d;       /* direction index */
    bool rev;    /* runs from t = T-1 down */
    bool lbr;    /* linear_before_reset != 0 */
    float *pre;  /* [N][T][G]: X W^T + b */
    float *h[2]; /* [N][Hp] each: h_{t-1} and h_t, alternating */
    float *z;    /* [N][Hp]: lbr 0, z of the step */
    float *rh;   /* [N][Hp]: lbr 0, r (.) h_{t-1} of the step */
} gru_job;

/* -- plain C version -- */

/* One step of row n: hp = h_{t-1}, hn = h_t, pre = the row's X W^T + b of step t. */
static void step_row_c(const gru_job *j, const float *r, const float *rb, const float *pre, const float *hp, float *hn,
                       float *z, float *rh) {
    const pl_own_rnn_pack *p = j->p;
    int64_t H = p->H, Hp = p->Hp, G = p->G;
    if (j->lbr) {
        for (int64_t jb = 0; jb < Hp; jb += VL) {
            float acc[3 * VL] = {0};
            pl_own_rnn_mac_c(acc, 3 * VL, H, hp, r + jb * 3, G);
            const float *pb = pre + jb * 3;
            for (int l = 0; l < VL; l++) {
                float gz = pl_own_rnn_sigmoid(pb[l] + acc[l]), gr = pl_own_rnn_sigmoid(pb[VL + l] + acc[VL + l]);
                float hh = tanhf(pb[2 * VL + l] + gr * (acc[2 * VL + l] + rb[jb + l]));
                hn[jb + l] = hh + gz * (hp[jb + l] - hh);
            }
        }
        return;
    }
    for (int64_t jb = 0; jb < Hp; jb += VL) {
        float acc[2 * VL] = {0};
        pl_own_rnn_mac_c(acc, 2 * VL, H, hp, r + jb * 3, G);
        const float *pb = pre + jb * 3;
        for (int l = 0; l < VL; l++) {
            z[jb + l] = pl_own_rnn_sigmoid(pb[l] + acc[l]);
            rh[jb + l] = pl_own_rnn_sigmoid(pb[VL + l] + acc[VL + l]) * hp[jb + l];
        }
    }
    for (int64_t jb = 0; jb < Hp; jb += VL) {
        float acc[VL] = {0};
        pl_own_rnn_mac_c(acc, VL, H, rh, r + jb * 3 + 2 * VL, G);
        for (int l = 0; l < VL; l++) {
            float hh = tanhf(pre[jb * 3 + 2 * VL + l] + acc[l]);
            hn[jb + l] = hh + z[jb + l] * (hp[jb + l] - hh);
        }
    }
}

static void run_rows_c(const gru_job *j, int64_t n0, int64_t n1) {
    const pl_own_rnn_pack *p = j->p;
    int64_t T = j->io->T, Hp = p->Hp, G = p->G;
    const float *r = p->r + j->d * p->H * G, *rb = p->rb ? p->rb + j->d * Hp : NULL;
    pl_own_rnn_input_gemm(j->io, p, j->d, n0, n1, j->pre);
    pl_own_rnn_load(j->io, p, j->d, n0, n1, j->h[0], NULL);
    int cur = 0;
    for (int64_t s = 0; s < T; s++) {
        int64_t t = j->rev ? T - 1 - s : s;
        for (int64_t n = n0; n < n1; n++)
            step_row_c(j, r, rb, j->pre + (n * T + t) * G, j->h[cur] + n * Hp, j->h[cur ^ 1] + n * Hp, j->z + n * Hp,
                       j->rh + n * Hp);
        pl_own_rnn_store_y(j->io, p, j->d, n0, n1, t, j->h[cur ^ 1]);
        cur ^= 1;
    }
    pl_own_rnn_store_states(j->io, p, j->d, n0, n1, j->h[cur], NULL);
}

#ifdef OWN_RNN_AVX512
/* -- AVX-512 version -- */

/* What a tile computes: every gate (lbr), or the two phases of lbr 0. */
enum { TILE_ALL, TILE_ZR, TILE_H };

/* One step for MR rows and U blocks of 16 units starting at block jb (a compile-time `what`,
 * MR and U): acc = a R^T over the tile's gate columns, a = h_{t-1} (rows hp) or, for TILE_H,
 * r (.) h_{t-1} (rows rh), then the gate math of those units. Rows of hp, hn, z and rh are Hp
 * apart, rows of pre ldp. */
INLINE_AVX512 void step_tile(int what, int MR, int U, const pl_own_rnn_pack *p, const float *r, const float *rb,
                             int64_t jb, const float *hp, const float *pre, int64_t ldp, float *z, float *rh,
                             float *hn) {
    const int g0 = what == TILE_H ? 2 : 0, NG = what == TILE_ALL ? 3 : what == TILE_ZR ? 2 : 1;
    int64_t Hp = p->Hp, G = p->G;
    const float *a = what == TILE_H ? rh : hp, *b = r + jb * 3 * VL + g0 * VL;
    __m512 acc[MR * U * NG];
    UNROLL for (int i = 0; i < MR * U * NG; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t k = 0; k < p->H; k++) {
        const float *bk = b + k * G;
        UNROLL for (int m = 0; m < MR; m++) {
            __m512 am = _mm512_set1_ps(a[m * Hp + k]);
            UNROLL for (int u = 0; u < U; u++)
                UNROLL for (int g = 0; g < NG; g++) {
                    __m512 *x = &acc[(m * U + u) * NG + g];
                    *x = _mm512_fmadd_ps(am, _mm512_loadu_ps(bk + u * 3 * VL + g * VL), *x);
                }
        }
    }
    UNROLL for (int m = 0; m < MR; m++)
        UNROLL for (int u = 0; u < U; u++) {
            const __m512 *g = acc + (m * U + u) * NG;
            const float *pm = pre + m * ldp + (jb + u) * 3 * VL;
            int64_t o = m * Hp + (jb + u) * VL;
            __m512 hprev = _mm512_loadu_ps(hp + o);
            if (what == TILE_ZR) {
                _mm512_storeu_ps(z + o, sigmoid512(_mm512_add_ps(_mm512_loadu_ps(pm), g[0])));
                __m512 gr = sigmoid512(_mm512_add_ps(_mm512_loadu_ps(pm + VL), g[1]));
                _mm512_storeu_ps(rh + o, _mm512_mul_ps(gr, hprev));
                continue;
            }
            __m512 gz, hh;
            if (what == TILE_ALL) {
                gz = sigmoid512(_mm512_add_ps(_mm512_loadu_ps(pm), g[0]));
                __m512 gr = sigmoid512(_mm512_add_ps(_mm512_loadu_ps(pm + VL), g[1]));
                __m512 lin = _mm512_add_ps(g[2], _mm512_loadu_ps(rb + (jb + u) * VL));
                hh = tanh512(_mm512_fmadd_ps(gr, lin, _mm512_loadu_ps(pm + 2 * VL)));
            } else {
                gz = _mm512_loadu_ps(z + o);
                hh = tanh512(_mm512_add_ps(_mm512_loadu_ps(pm + 2 * VL), g[0]));
            }
            _mm512_storeu_ps(hn + o, _mm512_fmadd_ps(gz, _mm512_sub_ps(hprev, hh), hh));
        }
}

/* One step of `what` for rows n0..n1 (all blocks). */
INLINE_AVX512 void step_rows_of(int what, const gru_job *j, const float *r, const float *rb, int64_t n0, int64_t n1,
                                int64_t t, const float *hp, float *hn) {
    const pl_own_rnn_pack *p = j->p;
    int64_t nb = p->Hp / VL, Hp = p->Hp, ldp = j->io->T * p->G;
    const float *pre = j->pre + t * p->G;
    int64_t n = n0;
#define STEP(MR, U)                                                                                                \
    step_tile(what, MR, U, p, r, rb, jb, hp + n * Hp, pre + n * ldp, ldp, j->z ? j->z + n * Hp : NULL,            \
              j->rh ? j->rh + n * Hp : NULL, hn + n * Hp)
    PL_OWN_RNN_TILES(n, n1, nb, STEP);
#undef STEP
}

static AVX512 void step_rows_all(const gru_job *j, const float *r, const float *rb, int64_t n0, int64_t n1, int64_t t,
                                 const float *hp, float *hn) {
    step_rows_of(TILE_ALL, j, r, rb, n0, n1, t, hp, hn);
}

static AVX512 void step_rows_zr(const gru_job *j, const float *r, int64_t n0, int64_t n1, int64_t t, const float *hp) {
    step_rows_of(TILE_ZR, j, r, NULL, n0, n1, t, hp, NULL);
}

static AVX512 void step_rows_h(const gru_job *j, const float *r, int64_t n0, int64_t n1, int64_t t, const float *hp,
                               float *hn) {
    step_rows_of(TILE_H, j, r, NULL, n0, n1, t, hp, hn);
}

static AVX512 void run_rows_avx512(const gru_job *j, int64_t n0, int64_t n1) {
    const pl_own_rnn_pack *p = j->p;
    int64_t T = j->io->T;
    const float *r = p->r + j->d * p->H * p->G, *rb = p->rb ? p->rb + j->d * p->Hp : NULL;
    pl_own_rnn_input_gemm(j->io, p, j->d, n0, n1, j->pre);
    pl_own_rnn_load(j->io, p, j->d, n0, n1, j->h[0], NULL);
    int cur = 0;
    for (int64_t s = 0; s < T; s++) {
        int64_t t = j->rev ? T - 1 - s : s;
        const float *hp = j->h[cur];
        float *hn = j->h[cur ^ 1];
        if (j->lbr) {
            step_rows_all(j, r, rb, n0, n1, t, hp, hn);
        } else {
            step_rows_zr(j, r, n0, n1, t, hp);
            step_rows_h(j, r, n0, n1, t, hp, hn);
        }
        pl_own_rnn_store_y(j->io, p, j->d, n0, n1, t, hn);
        cur ^= 1;
    }
    pl_own_rnn_store_states(j->io, p, j->d, n0, n1, j->h[cur], NULL);
}
#endif

static void run_rows(const void *job, int64_t n0, int64_t n1) {
    const gru_job *j = job;
#ifdef OWN_RNN_AVX512
    if (!j->p->plain) {
        run_rows_avx512(j, n0, n1);
        return;
    }
#endif
    run_rows_c(j, n0, n1);
}

/* ---- running ---- */

static pl_status gru_run(pl_xrun *r, pl_xnode *xn) {
    pl_own_rnn_io io;
    const pl_tactic *handoff;
    PL_TRY(pl_own_rnn_begin(r, xn, &gru_kind, &io, &handoff));
    if (handoff) return handoff->run(r, xn);
    bool lbr = pl_attr_int(xn->node, "linear_before_reset", 0) != 0;
    const pl_own_rnn_pack *p;
    PL_TRY(pl_own_rnn_pack_get(r, xn, &gru_kind, lbr, &p));

    /* scratch per direction: pre [N][T][G], then h, h' and (lbr 0) z, rh [N][Hp] */
    int n_st = lbr ? 2 : 4;
    int64_t pre_n, st_n = io.N * p->Hp, per_dir, all;
    if (!pl_mul_size(io.N * io.T, p->G, &pre_n) || !pl_mul_size(pre_n + n_st * st_n, io.dirs, &all) ||
        (uint64_t)all > SIZE_MAX / sizeof(float))
        return pl_err(PL_ERR_NOMEM, "GRU node '%s': scratch of %lld x %lld x %lld values is too large", xn->node->name,
                      (long long)io.N, (long long)io.T, (long long)p->G);
    per_dir = pre_n + n_st * st_n;
    size_t bytes = (size_t)all * sizeof(float);
    float *scratch = pl_xrun_scratch(r, 0, bytes);
    if (!scratch) return pl_err(PL_ERR_NOMEM, "cannot allocate %zu bytes of GRU scratch", bytes);
    gru_job jobs[2];
    const void *jp[2];
    for (int d = 0; d < io.dirs; d++) {
        float *s = scratch + d * per_dir;
        jobs[d] = (gru_job){.p = p, .io = &io, .d = d, .rev = io.rev || d == 1, .lbr = lbr, .pre = s,
                            .h = {s + pre_n, s + pre_n + st_n},
                            .z = lbr ? NULL : s + pre_n + 2 * st_n, .rh = lbr ? NULL : s + pre_n + 3 * st_n};
        jp[d] = &jobs[d];
    }
    pl_own_rnn_schedule(&io, pl_xrun_threads(r), run_rows, jp);
    return PL_OK;
}

const pl_tactic pl_tactic_own_gru = {.name = "plaster:gru", .accepts = gru_accepts, .run = gru_run};
