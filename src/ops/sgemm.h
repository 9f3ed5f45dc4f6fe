/* sgemm.h - single-precision matrix multiply shared by Conv, Gemm, MatMul and Einsum. */
#ifndef PL_SGEMM_H
#define PL_SGEMM_H

#include "../core/core.h"

/* C = alpha * op(A) * op(B) + beta * C with C an m x n row-major matrix (row stride ldc),
 * op(A) m x k and op(B) k x n; op transposes when trans_* is true (A, B are row-major with row
 * strides lda, ldb as stored). beta == 0 overwrites C without reading it. A, B are borrowed and
 * must not overlap C. Single-threaded; returns PL_ERR_NOMEM when the packing buffers cannot be
 * allocated (C is then unchanged or scaled by beta). */
pl_status pl_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                   int64_t ldc);

#endif
