/* own_rnn.h - what plaster's own recurrent kernels (own_lstm.c: plaster:lstm, own_gru.c:
 * plaster:gru) share, internal to the CPU backend. own_rnn.c implements the functions: the
 * static checks common to both ops, packing of constant W and R, reading a run's inputs and
 * making its outputs, the input GEMM and the schedule of directions and batch shares over
 * threads. The AVX-512 math (exp, sigmoid, tanh, register tiles) is inline here.
 *
 * Packed layout: W [D, gates H, K] and R are stored per direction as k-major matrices
 * [K][G], G = gates * Hp, Hp = H rounded up to 16, whose columns interleave the gates in
 * blocks of 16 hidden units: column ((j / 16) * gates + g) * 16 + j % 16 holds gate g of unit
 * j (padding zero). One register tile of a step thus holds every gate of its units. */
#ifndef PL_BACKEND_OWN_RNN_H
#define PL_BACKEND_OWN_RNN_H

#include "cpu.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define OWN_RNN_AVX512 1
#endif

#define VL 16 /* floats per block of hidden units (one AVX-512 vector) */

/* What distinguishes the ops: LSTM {"LSTM", 4, 8, 3, 3, {sigmoid, tanh, tanh}}. */
typedef struct pl_own_rnn_kind {
    const char *op;
    int gates;
    int max_in, max_out;
    int n_act;                      /* activations per direction */
    const char *const *activations; /* their defaults, n_act names */
} pl_own_rnn_kind;

/* Whether xn is `k->op` with float constant W and R (and B when present) of consistent
 * shapes and hidden_size, a known direction, layout 0 or 1, no clip, the default activations
 * (absent, or once or once per direction) and no post-ops. Op-specific attributes (LSTM's
 * input_forget and P) are the caller's to check. */
bool pl_own_rnn_accepts(const pl_xgraph *xg, const pl_xnode *xn, const pl_own_rnn_kind *k);

/* Input i of xn as a constant float tensor, or NULL (absent or not constant: see `present`). */
const pl_tensor *pl_own_rnn_const(const pl_xgraph *xg, const pl_xnode *xn, int i, bool *present);

typedef struct pl_own_rnn_pack {
    int dirs, gates;
    int64_t I, H, Hp, G; /* G = gates * Hp: the packed row width */
    float *w;            /* [D][I][G] */
    float *r;            /* [D][H][G] */
    float *b;            /* [D][G]: Wb + Rb, but for the last gate's Rb when rb_apart */
    float *rb;           /* [D][Hp]: the last gate's Rb when rb_apart (GRU with
                            linear_before_reset), else NULL */
    bool plain;          /* run the plain C loops (no AVX-512, or PL_OWN_RNN_PLAIN=1) */
} pl_own_rnn_pack;

/* xn's packed weights, made at the first call (into xn->own_state, under xn->lock) and
 * borrowed by the caller for the engine's lifetime. Fails only when out of memory. */
pl_status pl_own_rnn_pack_get(pl_xrun *r, pl_xnode *xn, const pl_own_rnn_kind *k, bool rb_apart,
                              const pl_own_rnn_pack **out);

/* One run of a node: sizes, and the tensors that every direction reads or writes (borrowed
 * from the run). Row (n, t) of X is x + pl_own_rnn_x_row(io, n, t) * I, and so on. */
typedef struct pl_own_rnn_io {
    int64_t T, N, I, H;
    int dirs, layout;
    bool rev;                 /* direction "reverse" (a bidirectional node's d = 1 also runs backwards) */
    const float *x, *h0, *c0; /* h0, c0: NULL for zeros */
    float *y, *yh, *yc;       /* NULL when not wanted */
} pl_own_rnn_io;

/* Reads xn's inputs and makes its wanted outputs into *io; *handoff NULL. When the kernel
 * must not run them, *handoff names the tactic that must instead (and nothing is made): the
 * reference for inputs it does not expect or sequence_lens other than all T, oneDNN's RNN
 * where that is faster (see own_rnn.c). Fails when an input or output cannot be had. */
pl_status pl_own_rnn_begin(pl_xrun *r, pl_xnode *xn, const pl_own_rnn_kind *k, pl_own_rnn_io *io,
                           const pl_tactic **handoff);

static inline int64_t pl_own_rnn_x_row(const pl_own_rnn_io *io, int64_t n, int64_t t) {
    return io->layout ? n * io->T + t : t * io->N + n;
}
static inline int64_t pl_own_rnn_y_row(const pl_own_rnn_io *io, int d, int64_t n, int64_t t) {
    return io->layout ? (n * io->T + t) * io->dirs + d : (t * io->dirs + d) * io->N + n;
}
static inline int64_t pl_own_rnn_state_row(const pl_own_rnn_io *io, int d, int64_t n) {
    return io->layout ? n * io->dirs + d : d * io->N + n;
}

/* Initial states of direction d, rows n0..n1, into h and c ([N][Hp], padding lanes zero;
 * c NULL: none). */
void pl_own_rnn_load(const pl_own_rnn_io *io, const pl_own_rnn_pack *p, int d, int64_t n0, int64_t n1, float *h,
                     float *c);
/* Y of step t (when wanted) from h, and the final states Y_h, Y_c (when wanted) from h, c. */
void pl_own_rnn_store_y(const pl_own_rnn_io *io, const pl_own_rnn_pack *p, int d, int64_t n0, int64_t n1, int64_t t,
                        const float *h);
void pl_own_rnn_store_states(const pl_own_rnn_io *io, const pl_own_rnn_pack *p, int d, int64_t n0, int64_t n1,
                             const float *h, const float *c);

/* pre[n][t] = X[n, t] W_d^T + b_d for rows n0..n1, every t ([N][T][G]). */
void pl_own_rnn_input_gemm(const pl_own_rnn_io *io, const pl_own_rnn_pack *p, int d, int64_t n0, int64_t n1,
                           float *pre);

/* Runs run(jobs[d], n0, n1) over every direction d and the whole batch on up to `threads`
 * threads: with 2+ threads a bidirectional node's directions run concurrently, and the
 * batch of a direction with 8+ entries is split among the threads it has (no barrier per
 * step: batch entries and directions are independent). */
void pl_own_rnn_schedule(const pl_own_rnn_io *io, int threads, void (*run)(const void *job, int64_t n0, int64_t n1),
                         const void *const *jobs);

static inline float pl_own_rnn_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Plain C: acc[c] += sum_k h[k] * r[k * ldr + c] for c < nc (r at the tile's first column). */
static inline void pl_own_rnn_mac_c(float *acc, int nc, int64_t K, const float *h, const float *r, int64_t ldr) {
    for (int64_t k = 0; k < K; k++)
        for (int c = 0; c < nc; c++) acc[c] += h[k] * r[k * ldr + c];
}

/* The register tiles of one step over rows n..n1 and nb blocks of 16 units: 6 rows at a time,
 * then the rows left with as many blocks per tile as the registers hold. STEP(MR, U) runs the
 * tile of MR rows from row n and U blocks from block jb (both in scope where it expands). */
#define PL_OWN_RNN_TILES(n, n1, nb, STEP)                                                          \
    do {                                                                                           \
        for (; n + 6 <= n1; n += 6)                                                                \
            for (int64_t jb = 0; jb < nb; jb++) STEP(6, 1);                                        \
        if (n1 - n == 5)                                                                           \
            for (int64_t jb = 0; jb < nb; jb++) STEP(5, 1);                                        \
        else if (n1 - n == 4)                                                                      \
            for (int64_t jb = 0; jb < nb; jb++) STEP(4, 1);                                        \
        else if (n1 - n == 3)                                                                      \
            for (int64_t jb = 0; jb < nb; jb++) STEP(3, 1);                                        \
        else if (n1 - n == 2) {                                                                    \
            int64_t jb = 0;                                                                        \
            for (; jb + 2 <= nb; jb += 2) STEP(2, 2);                                              \
            if (jb < nb) STEP(2, 1);                                                               \
        } else if (n1 - n == 1) {                                                                  \
            int64_t jb = 0;                                                                        \
            for (; jb + 4 <= nb; jb += 4) STEP(1, 4);                                              \
            switch (nb - jb) {                                                                     \
            case 3: STEP(1, 3); break;                                                             \
            case 2: STEP(1, 2); break;                                                             \
            case 1: STEP(1, 1); break;                                                             \
            default: break;                                                                        \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#ifdef OWN_RNN_AVX512
#define AVX512 __attribute__((target("avx512f")))
#define INLINE_AVX512 static inline __attribute__((always_inline, target("avx512f")))
/* the register tiles only stay in registers when their loops are unrolled */
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
#endif

#endif
