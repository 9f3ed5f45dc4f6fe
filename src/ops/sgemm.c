/* sgemm.c - a cache-blocked single-precision GEMM in portable C11 (Goto/BLIS structure):
 * panels of op(B) (KC x NC) and op(A) (MC x KC) are packed into contiguous slivers of NR
 * columns and MR rows, and a register-blocked MR x NR micro-kernel that the compiler
 * vectorizes runs over each pair of slivers. Edges are zero-padded in the packed panels. */
#include "sgemm.h"

#include <stdlib.h>
#include <string.h>

enum {
    MR = 4,    /* rows of the micro tile */
    NR = 16,   /* columns of the micro tile */
    KC = 256,  /* depth of a packed panel */
    MC = 128,  /* rows of a packed A block (MC * KC floats stay in L2) */
    NC = 2048  /* columns of a packed B panel */
};

/* Pack rows [0, mc) x depth [0, kc) of op(A) (starting at a) into MR-row slivers. */
static void pack_a(bool trans, const float *a, int64_t lda, int64_t mc, int64_t kc,
                   float *restrict dst) {
    for (int64_t i0 = 0; i0 < mc; i0 += MR) {
        int64_t rows = mc - i0 < MR ? mc - i0 : MR;
        for (int64_t p = 0; p < kc; p++) {
            for (int64_t i = 0; i < rows; i++)
                dst[p * MR + i] = trans ? a[p * lda + i0 + i] : a[(i0 + i) * lda + p];
            for (int64_t i = rows; i < MR; i++) dst[p * MR + i] = 0.0f;
        }
        dst += kc * MR;
    }
}

/* Pack depth [0, kc) x columns [0, nc) of op(B) (starting at b) into NR-column slivers. */
static void pack_b(bool trans, const float *b, int64_t ldb, int64_t kc, int64_t nc,
                   float *restrict dst) {
    for (int64_t j0 = 0; j0 < nc; j0 += NR) {
        int64_t cols = nc - j0 < NR ? nc - j0 : NR;
        if (!trans && cols == NR) {
            for (int64_t p = 0; p < kc; p++) memcpy(dst + p * NR, b + p * ldb + j0, NR * sizeof *dst);
        } else {
            for (int64_t p = 0; p < kc; p++) {
                for (int64_t j = 0; j < cols; j++)
                    dst[p * NR + j] = trans ? b[(j0 + j) * ldb + p] : b[p * ldb + j0 + j];
                for (int64_t j = cols; j < NR; j++) dst[p * NR + j] = 0.0f;
            }
        }
        dst += kc * NR;
    }
}

/* acc = sum over kc of a-sliver (MR) outer b-sliver (NR); written to `tile` (MR x NR). */
static void micro_kernel(int64_t kc, const float *restrict a, const float *restrict b,
                         float *restrict tile) {
    float acc[MR][NR] = {{0}};
    for (int64_t p = 0; p < kc; p++) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            float ai = a[p * MR + i];
#pragma GCC unroll 16
            for (int j = 0; j < NR; j++) acc[i][j] += ai * b[p * NR + j];
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) tile[i * NR + j] = acc[i][j];
}

/* C[rows x cols] += alpha * tile. */
static void add_tile(const float *restrict tile, int64_t rows, int64_t cols, float alpha,
                     float *restrict c, int64_t ldc) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) c[i * ldc + j] += alpha * tile[i * NR + j];
}

/* C = beta * C, overwriting with zeros when beta == 0. */
static void scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc) {
    if (beta == 1.0f) return;
    for (int64_t i = 0; i < m; i++) {
        float *row = c + i * ldc;
        if (beta == 0.0f) memset(row, 0, (size_t)n * sizeof *row);
        else
            for (int64_t j = 0; j < n; j++) row[j] *= beta;
    }
}

pl_status pl_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                   int64_t ldc) {
    if (m <= 0 || n <= 0) return PL_OK;
    scale_c(m, n, beta, c, ldc);
    if (k <= 0 || alpha == 0.0f) return PL_OK;
    int64_t nc_max = n < NC ? (n + NR - 1) / NR * NR : NC;
    int64_t mc_max = m < MC ? (m + MR - 1) / MR * MR : MC;
    int64_t kc_max = k < KC ? k : KC;
    float *pa = malloc((size_t)(mc_max * kc_max) * sizeof *pa);
    float *pb = malloc((size_t)(nc_max * kc_max) * sizeof *pb);
    if (!pa || !pb) {
        free(pa);
        free(pb);
        return pl_err(PL_ERR_NOMEM, "out of memory for GEMM packing buffers");
    }
    for (int64_t jc = 0; jc < n; jc += NC) {
        int64_t nc = n - jc < NC ? n - jc : NC;
        for (int64_t pc = 0; pc < k; pc += KC) {
            int64_t kc = k - pc < KC ? k - pc : KC;
            pack_b(trans_b, trans_b ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, kc, nc, pb);
            for (int64_t ic = 0; ic < m; ic += MC) {
                int64_t mc = m - ic < MC ? m - ic : MC;
                pack_a(trans_a, trans_a ? a + pc * lda + ic : a + ic * lda + pc, lda, mc, kc, pa);
                /* column slivers are independent and each C element keeps its order of
                 * additions, so any thread count gives the same bits as one thread */
                int64_t n_slivers = (nc + NR - 1) / NR;
                int64_t work = mc * nc * kc;
#pragma omp parallel for schedule(static) if (work >= (1 << 18) && n_slivers > 1)
                for (int64_t js = 0; js < n_slivers; js++) {
                    int64_t jr = js * NR;
                    int64_t cols = nc - jr < NR ? nc - jr : NR;
                    float tile[MR * NR];
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        int64_t rows = mc - ir < MR ? mc - ir : MR;
                        micro_kernel(kc, pa + ir * kc, pb + jr * kc, tile);
                        add_tile(tile, rows, cols, alpha, c + (ic + ir) * ldc + jc + jr, ldc);
                    }
                }
            }
        }
    }
    free(pa);
    free(pb);
    return PL_OK;
}
