/* own_lstm.c - plaster's own ONNX LSTM kernel (tactic plaster:lstm), for the small batches
 * where oneDNN 2.6's RNN primitive spends most of its time in overhead.
 *
 * Constant W and R are packed once per node (into xn->own_state; own_rnn.h) as k-major
 * matrices [K][4 * Hp] whose columns interleave the four gates (i, o, f, c) in blocks of 16
 * hidden units. One tile of the recurrence thus holds every gate of 16 * U units in
 * registers, and the cell update runs on them before anything is stored. Per direction and
 * batch entry, X W^T + Wb + Rb is computed for every step with one small GEMM, then each step
 * adds h R^T and updates c and h. Directions and batch entries are independent: a
 * bidirectional node runs its directions on two threads at once, and a direction with 8+
 * entries splits them among its threads (pl_own_rnn_schedule; no barrier per step).
 *
 * Accepted: float, constant W, R, B, P all zero or absent, no clip, input_forget 0, the
 * default activations, layouts 0 and 1, every direction. At run time other dtypes, shapes
 * that disagree, and sequence_lens other than all T go to the reference kernel; shapes where
 * oneDNN's primitive is faster go to it when it is there (pl_own_rnn_begin). The AVX-512
 * kernel runs where the CPU has AVX-512F; elsewhere (or with PL_OWN_RNN_PLAIN=1) a plain C
 * version of the same loops does. */
#include "own_rnn.h"

#include <math.h>
#include <string.h>

static const char *const lstm_activations[3] = {"sigmoid", "tanh", "tanh"};
static const pl_own_rnn_kind lstm_kind = {
    .op = "LSTM", .gates = 4, .max_in = 8, .max_out = 3, .n_act = 3, .activations = lstm_activations};

static bool lstm_accepts(const pl_xgraph *xg, const pl_xnode *xn) {
    if (!pl_own_rnn_accepts(xg, xn, &lstm_kind) || pl_attr_int(xn->node, "input_forget", 0)) return false;
    bool present;
    const pl_tensor *p = pl_own_rnn_const(xg, xn, 7, &present);
    if (!present) return true;
    int64_t H = xg->consts[xn->in[2]]->dims[2], D = xg->consts[xn->in[2]]->dims[0];
    if (!p || p->rank != 2 || p->dims[0] != D || p->dims[1] != 3 * H) return false;
    for (int64_t k = 0; k < p->numel; k++)
        if (((const float *)p->data)[k] != 0.0f) return false;
    return true;
}

/* ---- one direction over a share of the batch ---- */

typedef struct lstm_job {
    const pl_own_rnn_pack *p;
    const pl_own_rnn_io *io;
    int d;       /* direction index */
    bool rev;    /* runs from t = T-1 down */
    float *pre;  /* [N][T][G]: X W^T + B */
    float *h[2]; /* [N][Hp] each: h_{t-1} and h_t, alternating */
    float *c;    /* [N][Hp] */
} lstm_job;

/* -- plain C version -- */

static void run_rows_c(const lstm_job *j, int64_t n0, int64_t n1) {
    const pl_own_rnn_pack *p = j->p;
    int64_t T = j->io->T, H = p->H, Hp = p->Hp, G = p->G;
    const float *r = p->r + j->d * H * G;
    pl_own_rnn_input_gemm(j->io, p, j->d, n0, n1, j->pre);
    pl_own_rnn_load(j->io, p, j->d, n0, n1, j->h[0], j->c);
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
                pl_own_rnn_mac_c(acc, 4 * VL, H, hp + n * Hp, r + jb * 4, G);
                for (int l = 0; l < VL; l++) {
                    float *cell = j->c + n * Hp + jb + l;
                    float gi = pl_own_rnn_sigmoid(acc[l]), go = pl_own_rnn_sigmoid(acc[VL + l]);
                    float gf = pl_own_rnn_sigmoid(acc[2 * VL + l]);
                    *cell = gf * *cell + gi * tanhf(acc[3 * VL + l]);
                    hrow[jb + l] = go * tanhf(*cell);
                }
            }
        }
        pl_own_rnn_store_y(j->io, p, j->d, n0, n1, t, hn);
        cur ^= 1;
    }
    pl_own_rnn_store_states(j->io, p, j->d, n0, n1, j->h[cur], j->c);
}

#ifdef OWN_RNN_AVX512
/* -- AVX-512 version -- */

/* The cell update of MR rows and U blocks from their gates g ([MR][U][4] vectors): c and h.
 * Out of line on purpose: inlined, GCC keeps the exp/tanh constants in registers across the
 * caller's tile loop and spills a third of its accumulators there (9 of 24 in the 6-row
 * tile, which then ran at about half its speed). */
static AVX512 __attribute__((noinline)) void cell_update(int MR, int U, const __m512 *g, int64_t Hp, int64_t jb,
                                                          float *c, float *hn) {
    for (int m = 0; m < MR; m++)
        for (int u = 0; u < U; u++, g += 4) {
            float *cm = c + m * Hp + (jb + u) * VL;
            __m512 gi = sigmoid512(g[0]), go = sigmoid512(g[1]), gf = sigmoid512(g[2]), gc = tanh512(g[3]);
            __m512 cn = _mm512_fmadd_ps(gf, _mm512_loadu_ps(cm), _mm512_mul_ps(gi, gc));
            _mm512_storeu_ps(cm, cn);
            _mm512_storeu_ps(hn + m * Hp + (jb + u) * VL, _mm512_mul_ps(go, tanh512(cn)));
        }
}

/* One step for MR rows and U blocks of 16 units starting at block jb: gates = pre + h R,
 * then c and h of those units. h rows are Hp apart, pre rows ldp. */
INLINE_AVX512 void step_tile(int MR, int U, const pl_own_rnn_pack *p, const float *r, int64_t jb, const float *hp,
                             const float *pre, int64_t ldp, float *c, float *hn) {
    __m512 acc[MR * 4 * U];
    int64_t off = jb * 4 * VL;
    tile_mac(MR, 4 * U, p->H, hp, p->Hp, r + off, p->G, pre + off, ldp, acc);
    cell_update(MR, U, acc, p->Hp, jb, c, hn);
}

/* One step for rows n0..n1 (all blocks). */
static AVX512 void step_rows(const lstm_job *j, const float *r, int64_t n0, int64_t n1, int64_t t, const float *hp,
                             float *hn) {
    const pl_own_rnn_pack *p = j->p;
    int64_t nb = p->Hp / VL, Hp = p->Hp, ldp = j->io->T * p->G;
    const float *pre = j->pre + t * p->G;
    int64_t n = n0;
#define STEP(MR, U) step_tile(MR, U, p, r, jb, hp + n * Hp, pre + n * ldp, ldp, j->c + n * Hp, hn + n * Hp)
    PL_OWN_RNN_TILES(n, n1, nb, STEP);
#undef STEP
}

static AVX512 void run_rows_avx512(const lstm_job *j, int64_t n0, int64_t n1) {
    const pl_own_rnn_pack *p = j->p;
    int64_t T = j->io->T;
    pl_own_rnn_input_gemm(j->io, p, j->d, n0, n1, j->pre);
    pl_own_rnn_load(j->io, p, j->d, n0, n1, j->h[0], j->c);
    const float *r = p->r + j->d * p->H * p->G;
    int cur = 0;
    for (int64_t s = 0; s < T; s++) {
        int64_t t = j->rev ? T - 1 - s : s;
        step_rows(j, r, n0, n1, t, j->h[cur], j->h[cur ^ 1]);
        pl_own_rnn_store_y(j->io, p, j->d, n0, n1, t, j->h[cur ^ 1]);
        cur ^= 1;
    }
    pl_own_rnn_store_states(j->io, p, j->d, n0, n1, j->h[cur], j->c);
}
#endif

static void run_rows(const void *job, int64_t n0, int64_t n1) {
    const lstm_job *j = job;
#ifdef OWN_RNN_AVX512
    if (!j->p->plain) {
        run_rows_avx512(j, n0, n1);
        return;
    }
#endif
    run_rows_c(j, n0, n1);
}

/* ---- running ---- */

static pl_status lstm_run(pl_xrun *r, pl_xnode *xn) {
    pl_own_rnn_io io;
    const pl_tactic *handoff;
    PL_TRY(pl_own_rnn_begin(r, xn, &lstm_kind, &io, &handoff));
    if (handoff) return handoff->run(r, xn);
    const pl_own_rnn_pack *p;
    PL_TRY(pl_own_rnn_pack_get(r, xn, &lstm_kind, false, &p));

    /* scratch per direction: pre [N][T][G], then h, h', c [N][Hp] */
    int64_t pre_n, st_n = io.N * p->Hp, per_dir, all;
    if (!pl_mul_size(io.N * io.T, p->G, &pre_n) || !pl_mul_size(pre_n + 3 * st_n, io.dirs, &all) ||
        (uint64_t)all > SIZE_MAX / sizeof(float))
        return pl_err(PL_ERR_NOMEM, "LSTM node '%s': scratch of %lld x %lld x %lld values is too large", xn->node->name,
                      (long long)io.N, (long long)io.T, (long long)p->G);
    per_dir = pre_n + 3 * st_n;
    size_t bytes = (size_t)all * sizeof(float);
    float *scratch = pl_xrun_scratch(r, 0, bytes);
    if (!scratch) return pl_err(PL_ERR_NOMEM, "cannot allocate %zu bytes of LSTM scratch", bytes);
    lstm_job jobs[2];
    const void *jp[2];
    for (int d = 0; d < io.dirs; d++) {
        float *s = scratch + d * per_dir;
        jobs[d] = (lstm_job){.p = p, .io = &io, .d = d, .rev = io.rev || d == 1, .pre = s,
                             .h = {s + pre_n, s + pre_n + st_n}, .c = s + pre_n + 2 * st_n};
        jp[d] = &jobs[d];
    }
    pl_own_rnn_schedule(&io, pl_xrun_threads(r), run_rows, jp);
    return PL_OK;
}

const pl_tactic pl_tactic_own_lstm = {.name = "plaster:lstm", .accepts = lstm_accepts, .run = lstm_run};
