/* gemm.c - matrix products: Gemm, MatMul (numpy semantics) and Einsum. float32 (and
 * float16/bfloat16 through float) runs on the packed pl_sgemm; double runs in double and the
 * integer types in wrapping 64-bit integer arithmetic. */
#include "ops.h"
#include "sgemm.h"

#include <stdlib.h>
#include <string.h>

/* How a dtype is computed. */
typedef enum num_class { NUM_F32, NUM_F64, NUM_I64 } num_class;

/* The compute class of a dtype; PL_ERR_UNSUPPORTED naming it for the rest. */
static pl_status class_of(pl_dtype dt, const char *op, num_class *cls) {
    switch (dt) {
    case PL_DT_FLOAT:
    case PL_DT_FLOAT16:
    case PL_DT_BFLOAT16: *cls = NUM_F32; return PL_OK;
    case PL_DT_DOUBLE: *cls = NUM_F64; return PL_OK;
    case PL_DT_INT8:
    case PL_DT_UINT8:
    case PL_DT_INT16:
    case PL_DT_UINT16:
    case PL_DT_INT32:
    case PL_DT_UINT32:
    case PL_DT_INT64:
    case PL_DT_UINT64: *cls = NUM_I64; return PL_OK;
    default:
        return pl_err(PL_ERR_UNSUPPORTED, "%s does not support dtype %s", op, pl_dtype_name(dt));
    }
}

static size_t class_size(num_class cls) {
    return cls == NUM_F32 ? sizeof(float) : cls == NUM_F64 ? sizeof(double) : sizeof(int64_t);
}

/* The elements of `t` as a buffer of the class type. *owned is set when the buffer was
 * allocated (the caller frees it); otherwise it borrows t->data. */
static pl_status load_buf(const pl_tensor *t, num_class cls, void **buf, bool *owned) {
    *owned = false;
    if ((cls == NUM_F32 && t->dtype == PL_DT_FLOAT) || (cls == NUM_F64 && t->dtype == PL_DT_DOUBLE) ||
        (cls == NUM_I64 && t->dtype == PL_DT_INT64)) {
        *buf = t->data;
        return PL_OK;
    }
    size_t n = (size_t)(t->numel ? t->numel : 1);
    void *b = malloc(n * class_size(cls));
    if (!b) return pl_err(PL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < t->numel; i++) {
        if (cls == NUM_F32) ((float *)b)[i] = (float)pl_get_f64(t, i);
        else if (cls == NUM_F64) ((double *)b)[i] = pl_get_f64(t, i);
        else ((int64_t *)b)[i] = pl_get_i64(t, i);
    }
    *buf = b;
    *owned = true;
    return PL_OK;
}

/* Create output `idx` of dtype `dt` and shape (rank, dims) and a class buffer to compute it in:
 * the output's own data when the dtypes match, else a zeroed temporary (*owned set) that
 * store_buf converts into the output. */
static pl_status out_buf(pl_kernel_ctx *ctx, int idx, pl_dtype dt, num_class cls, int rank,
                         const int64_t *dims, pl_tensor **t, void **buf, bool *owned) {
    PL_TRY(pl_out(ctx, idx, dt, rank, dims, t));
    *owned = false;
    if ((cls == NUM_F32 && dt == PL_DT_FLOAT) || (cls == NUM_F64 && dt == PL_DT_DOUBLE) ||
        (cls == NUM_I64 && dt == PL_DT_INT64)) {
        *buf = (*t)->data;
        return PL_OK;
    }
    *buf = calloc((size_t)((*t)->numel ? (*t)->numel : 1), class_size(cls));
    if (!*buf) return pl_err(PL_ERR_NOMEM, "out of memory");
    *owned = true;
    return PL_OK;
}

/* Convert a temporary class buffer into tensor t and free it. */
static void store_buf(pl_tensor *t, num_class cls, void *buf, bool owned) {
    if (!owned) return;
    for (int64_t i = 0; i < t->numel; i++) {
        if (cls == NUM_F32) pl_set_f64(t, i, ((float *)buf)[i]);
        else if (cls == NUM_F64) pl_set_f64(t, i, ((double *)buf)[i]);
        else pl_set_i64(t, i, ((int64_t *)buf)[i]);
    }
    free(buf);
}

/* c (m x n) += alpha * op(a) op(b) in the class type; a, b row-major with leading dims
 * lda, ldb. Integers wrap (computed in uint64). */
static pl_status mm(num_class cls, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                    double alpha, const void *a, int64_t lda, const void *b, int64_t ldb,
                    void *c, int64_t ldc) {
    if (cls == NUM_F32)
        return pl_sgemm(ta, tb, m, n, k, (float)alpha, a, lda, b, ldb, 1.0f, c, ldc);
    for (int64_t i = 0; i < m; i++) {
        for (int64_t p = 0; p < k; p++) {
            int64_t ai = ta ? p * lda + i : i * lda + p;
            if (cls == NUM_F64) {
                double av = alpha * ((const double *)a)[ai];
                const double *bd = b;
                double *cd = (double *)c + i * ldc;
                for (int64_t j = 0; j < n; j++) cd[j] += av * bd[tb ? j * ldb + p : p * ldb + j];
            } else {
                uint64_t av = (uint64_t)((const int64_t *)a)[ai];
                const int64_t *bi = b;
                int64_t *ci = (int64_t *)c + i * ldc;
                for (int64_t j = 0; j < n; j++)
                    ci[j] = (int64_t)((uint64_t)ci[j] +
                                      av * (uint64_t)bi[tb ? j * ldb + p : p * ldb + j]);
            }
        }
    }
    return PL_OK;
}

/* ---- Gemm ---- */

/* Fill y (m x n) with beta * C broadcast unidirectionally to [m, n]. */
static pl_status gemm_fill_c(const pl_tensor *c, num_class cls, double beta, int64_t m,
                             int64_t n, void *y) {
    int64_t cm = 1, cn = 1;
    if (c->rank > 2) return pl_err(PL_ERR_INVALID, "input C must have rank <= 2, has %d", c->rank);
    if (c->rank == 2) cm = c->dims[0], cn = c->dims[1];
    if (c->rank == 1) cn = c->dims[0];
    if ((cm != 1 && cm != m) || (cn != 1 && cn != n)) {
        char s[128];
        return pl_err(PL_ERR_INVALID, "input C of shape %s cannot be broadcast to [%lld,%lld]",
                      pl_dims_str(c->rank, c->dims, s, sizeof s), (long long)m, (long long)n);
    }
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            int64_t src = (cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j), dst = i * n + j;
            if (cls == NUM_F32) ((float *)y)[dst] = (float)(beta * pl_get_f64(c, src));
            else if (cls == NUM_F64) ((double *)y)[dst] = beta * pl_get_f64(c, src);
            else ((int64_t *)y)[dst] = (int64_t)(beta * (double)pl_get_i64(c, src));
        }
    return PL_OK;
}

/* Gemm: Y = alpha * op(A) op(B) + beta * C. */
static pl_status op_gemm(pl_kernel_ctx *ctx) {
    const pl_tensor *a, *b, *c = pl_in(ctx, 2);
    PL_TRY(pl_in_req(ctx, 0, &a));
    PL_TRY(pl_in_req(ctx, 1, &b));
    if (c && c->kind != PL_KIND_TENSOR) c = NULL;
    if (a->rank != 2 || b->rank != 2)
        return pl_err(PL_ERR_INVALID, "inputs A and B must be 2-D, have ranks %d and %d", a->rank,
                      b->rank);
    if (a->dtype != b->dtype || (c && c->dtype != a->dtype))
        return pl_err(PL_ERR_INVALID, "inputs must share one dtype (A %s, B %s%s%s)",
                      pl_dtype_name(a->dtype), pl_dtype_name(b->dtype), c ? ", C " : "",
                      c ? pl_dtype_name(c->dtype) : "");
    num_class cls;
    PL_TRY(class_of(a->dtype, "Gemm", &cls));
    bool ta = pl_attr_int(ctx->node, "transA", 0) != 0, tb = pl_attr_int(ctx->node, "transB", 0) != 0;
    double alpha = pl_attr_float(ctx->node, "alpha", 1.0f), beta = pl_attr_float(ctx->node, "beta", 1.0f);
    int64_t m = ta ? a->dims[1] : a->dims[0], k = ta ? a->dims[0] : a->dims[1];
    int64_t kb = tb ? b->dims[1] : b->dims[0], n = tb ? b->dims[0] : b->dims[1];
    if (k != kb)
        return pl_err(PL_ERR_INVALID, "inner dims differ: op(A) is [%lld,%lld], op(B) is [%lld,%lld]",
                      (long long)m, (long long)k, (long long)kb, (long long)n);
    int64_t dims[2] = {m, n};
    pl_tensor *y;
    void *ybuf, *abuf = NULL, *bbuf = NULL;
    bool yown, aown = false, bown = false;
    PL_TRY(out_buf(ctx, 0, a->dtype, cls, 2, dims, &y, &ybuf, &yown));
    pl_status st = c && beta != 0.0 ? gemm_fill_c(c, cls, beta, m, n, ybuf) : PL_OK;
    if (st == PL_OK) st = load_buf(a, cls, &abuf, &aown);
    if (st == PL_OK) st = load_buf(b, cls, &bbuf, &bown);
    if (st == PL_OK) st = mm(cls, ta, tb, m, n, k, alpha, abuf, a->dims[1], bbuf, b->dims[1], ybuf, n);
    if (aown) free(abuf);
    if (bown) free(bbuf);
    if (st != PL_OK) {
        if (yown) free(ybuf);
        return st;
    }
    store_buf(y, cls, ybuf, yown);
    return PL_OK;
}

/* ---- MatMul ---- */

/* MatMul with numpy semantics: 1-D operands are promoted and the added dim removed; batch
 * dims broadcast. When B has no real batch, A's batch folds into the rows of one GEMM. */
static pl_status op_matmul(pl_kernel_ctx *ctx) {
    const pl_tensor *a, *b;
    PL_TRY(pl_in_req(ctx, 0, &a));
    PL_TRY(pl_in_req(ctx, 1, &b));
    if (a->dtype != b->dtype)
        return pl_err(PL_ERR_INVALID, "inputs A (%s) and B (%s) must share one dtype",
                      pl_dtype_name(a->dtype), pl_dtype_name(b->dtype));
    if (a->rank < 1 || b->rank < 1)
        return pl_err(PL_ERR_INVALID, "inputs must have rank >= 1 (A %d, B %d)", a->rank, b->rank);
    num_class cls;
    PL_TRY(class_of(a->dtype, "MatMul", &cls));
    int64_t m = a->rank == 1 ? 1 : a->dims[a->rank - 2], k = a->dims[a->rank - 1];
    int64_t kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    int64_t n = b->rank == 1 ? 1 : b->dims[b->rank - 1];
    if (k != kb) {
        char sa[256], sb[256];
        return pl_err(PL_ERR_INVALID, "A %s and B %s: inner dims %lld and %lld differ",
                      pl_dims_str(a->rank, a->dims, sa, sizeof sa),
                      pl_dims_str(b->rank, b->dims, sb, sizeof sb), (long long)k, (long long)kb);
    }
    int rba = a->rank > 2 ? a->rank - 2 : 0, rbb = b->rank > 2 ? b->rank - 2 : 0, rbo;
    int64_t bdims[PL_MAX_RANK];
    PL_TRY(pl_broadcast(rba, a->dims, rbb, b->dims, &rbo, bdims));
    int64_t odims[PL_MAX_RANK + 2];
    int ro = rbo;
    memcpy(odims, bdims, sizeof(int64_t) * (size_t)rbo);
    if (a->rank > 1) odims[ro++] = m;
    if (b->rank > 1) odims[ro++] = n;
    if (ro > PL_MAX_RANK) return pl_err(PL_ERR_INVALID, "output rank %d is too large", ro);
    int64_t nbatch = 1, nbatch_b = 1;
    for (int i = 0; i < rbo; i++) nbatch *= bdims[i];
    for (int i = 0; i < rbb; i++) nbatch_b *= b->dims[i];
    pl_tensor *y;
    void *ybuf, *abuf = NULL, *bbuf = NULL;
    bool yown, aown = false, bown = false;
    PL_TRY(out_buf(ctx, 0, a->dtype, cls, ro, odims, &y, &ybuf, &yown));
    pl_status st = load_buf(a, cls, &abuf, &aown);
    if (st == PL_OK) st = load_buf(b, cls, &bbuf, &bown);
    size_t es = class_size(cls);
    if (st == PL_OK && nbatch_b == 1) {
        st = mm(cls, false, false, nbatch * m, n, k, 1.0, abuf, k, bbuf, n, ybuf, n);
    } else if (st == PL_OK) {
        int64_t sa[PL_MAX_RANK], sb[PL_MAX_RANK], idx[PL_MAX_RANK] = {0};
        pl_tensor va = {.rank = rba}, vb = {.rank = rbb};
        memcpy(va.dims, a->dims, sizeof(int64_t) * (size_t)rba);
        memcpy(vb.dims, b->dims, sizeof(int64_t) * (size_t)rbb);
        pl_broadcast_strides(&va, rbo, bdims, sa);
        pl_broadcast_strides(&vb, rbo, bdims, sb);
        for (int64_t bi = 0; bi < nbatch && st == PL_OK; bi++) {
            int64_t oa = 0, ob = 0;
            for (int d = 0; d < rbo; d++) oa += idx[d] * sa[d], ob += idx[d] * sb[d];
            st = mm(cls, false, false, m, n, k, 1.0, (const char *)abuf + (size_t)(oa * m * k) * es,
                    k, (const char *)bbuf + (size_t)(ob * k * n) * es, n,
                    (char *)ybuf + (size_t)(bi * m * n) * es, n);
            for (int d = rbo - 1; d >= 0 && ++idx[d] == bdims[d]; d--) idx[d] = 0;
        }
    }
    if (aown) free(abuf);
    if (bown) free(bbuf);
    if (st != PL_OK) {
        if (yown) free(ybuf);
        return st;
    }
    store_buf(y, cls, ybuf, yown);
    return PL_OK;
}

/* ---- Einsum ---- */

enum { EIN_LETTERS = 52, EIN_LABELS = EIN_LETTERS + PL_MAX_RANK };

/* A parsed equation: per operand and for the output, the label of each dim. Labels 0..51
 * are letters (A-Z, a-z, in ASCII order); 52.. are the broadcast dims of an ellipsis. */
typedef struct einsum_eq {
    int n_ops;
    int rank[64];
    int labels[64][PL_MAX_RANK];
    int out_rank;
    int out[EIN_LABELS];
    int64_t size[EIN_LABELS]; /* -1 when unused */
} einsum_eq;

static int letter_id(char ch) {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return 26 + ch - 'a';
    return -1;
}

/* Splits term [s, e) into letter ids with -2 for an ellipsis; returns the count or -1. */
static int einsum_term(const char *s, const char *e, int *ids, int max) {
    int n = 0, ell = 0;
    for (const char *p = s; p < e; p++) {
        if (*p == ' ') continue;
        if (n >= max) return -1;
        if (*p == '.') {
            if (e - p < 3 || p[1] != '.' || p[2] != '.' || ell++) return -1;
            ids[n++] = -2;
            p += 2;
        } else if ((ids[n++] = letter_id(*p)) < 0) {
            return -1;
        }
    }
    return n;
}

/* Parse the equation against the operands' shapes (the ONNX/numpy rules, implicit output
 * included) and find each label's size. */
static pl_status einsum_parse(const char *eq, int n_in, const pl_tensor *const *in, einsum_eq *q) {
    memset(q, 0, sizeof *q);
    for (int l = 0; l < EIN_LABELS; l++) q->size[l] = -1;
    if (n_in > 64) return pl_err(PL_ERR_UNSUPPORTED, "Einsum with %d inputs (at most 64)", n_in);
    const char *arrow = strstr(eq, "->"), *lhs_end = arrow ? arrow : eq + strlen(eq);
    int ids[64][PL_MAX_RANK + 3], nids[64], ell_rank = 0, count[EIN_LETTERS] = {0};
    const char *s = eq;
    for (int t = 0; t < n_in; t++) {
        const char *e = memchr(s, ',', (size_t)(lhs_end - s));
        if (!e) e = lhs_end;
        if ((e == lhs_end) != (t == n_in - 1))
            return pl_err(PL_ERR_INVALID, "equation '%s' does not have %d input terms", eq, n_in);
        nids[t] = einsum_term(s, e, ids[t], PL_MAX_RANK + 3);
        if (nids[t] < 0) return pl_err(PL_ERR_INVALID, "equation '%s': bad term %d", eq, t);
        int letters = 0;
        bool ell = false;
        for (int i = 0; i < nids[t]; i++) ell |= ids[t][i] == -2, letters += ids[t][i] >= 0;
        int r = in[t]->rank;
        if (ell ? r < letters : r != letters)
            return pl_err(PL_ERR_INVALID, "equation '%s': term %d has %d labels, input %d has rank %d",
                          eq, t, letters, t, r);
        if (r - letters > ell_rank) ell_rank = r - letters;
        s = e + 1;
    }
    for (int t = 0; t < n_in; t++) {
        int r = in[t]->rank, ne = r - (nids[t] - 1), d = 0;
        bool has_ell = false;
        for (int i = 0; i < nids[t]; i++) has_ell |= ids[t][i] == -2;
        if (!has_ell) ne = 0;
        for (int i = 0; i < nids[t]; i++) {
            if (ids[t][i] == -2) {
                for (int j = 0; j < ne; j++) q->labels[t][d++] = EIN_LETTERS + ell_rank - ne + j;
            } else {
                count[ids[t][i]]++;
                q->labels[t][d++] = ids[t][i];
            }
        }
        q->rank[t] = r;
        for (d = 0; d < r; d++) {
            int l = q->labels[t][d];
            int64_t sz = in[t]->dims[d];
            if (q->size[l] < 0 || (l >= EIN_LETTERS && q->size[l] == 1)) q->size[l] = sz;
            else if (q->size[l] != sz && !(l >= EIN_LETTERS && sz == 1))
                return pl_err(PL_ERR_INVALID, "equation '%s': dim %d of input %d is %lld, label "
                              "size is %lld", eq, d, t, (long long)sz, (long long)q->size[l]);
        }
    }
    q->n_ops = n_in;
    if (arrow) {
        int oids[EIN_LABELS];
        int n = einsum_term(arrow + 2, arrow + strlen(arrow), oids, EIN_LABELS - ell_rank);
        if (n < 0) return pl_err(PL_ERR_INVALID, "equation '%s': bad output term", eq);
        bool seen[EIN_LABELS] = {false};
        for (int i = 0; i < n; i++) {
            if (oids[i] == -2) {
                for (int j = 0; j < ell_rank; j++) q->out[q->out_rank++] = EIN_LETTERS + j;
                continue;
            }
            if (count[oids[i]] == 0 || seen[oids[i]])
                return pl_err(PL_ERR_INVALID, "equation '%s': output label %d is %s", eq, i,
                              seen[oids[i]] ? "repeated" : "not in any input");
            seen[oids[i]] = true;
            q->out[q->out_rank++] = oids[i];
        }
    } else {
        for (int j = 0; j < ell_rank; j++) q->out[q->out_rank++] = EIN_LETTERS + j;
        for (int l = 0; l < EIN_LETTERS; l++)
            if (count[l] == 1) q->out[q->out_rank++] = l;
    }
    if (q->out_rank > PL_MAX_RANK)
        return pl_err(PL_ERR_INVALID, "equation '%s': output rank %d is too large", eq, q->out_rank);
    return PL_OK;
}

/* Element stride of label l in operand t (summed over repeated dims; 0 when broadcast). */
static int64_t einsum_stride(const einsum_eq *q, const pl_tensor *t, int op, int l) {
    int64_t st[PL_MAX_RANK], s = 0;
    pl_strides(t->rank, t->dims, st);
    for (int d = 0; d < t->rank; d++)
        if (q->labels[op][d] == l && !(t->dims[d] == 1 && q->size[l] != 1)) s += st[d];
    return s;
}

/* The generic loop: for every output element, sum over the other labels the product of
 * the operands' elements. Works on class buffers. */
static pl_status einsum_generic(const einsum_eq *q, num_class cls, const pl_tensor *const *in,
                                void *const *bufs, void *ybuf) {
    int loop[EIN_LABELS], nl = 0, no = q->out_rank;
    bool in_out[EIN_LABELS] = {false};
    for (int i = 0; i < no; i++) loop[nl++] = q->out[i], in_out[q->out[i]] = true;
    for (int l = 0; l < EIN_LABELS; l++)
        if (!in_out[l] && q->size[l] >= 0) loop[nl++] = l;
    int64_t (*sp)[EIN_LABELS] = malloc(sizeof(int64_t[64][EIN_LABELS])); /* [operand][loop pos] */
    if (!sp) return pl_err(PL_ERR_NOMEM, "out of memory");
    for (int t = 0; t < q->n_ops; t++)
        for (int i = 0; i < nl; i++) sp[t][i] = einsum_stride(q, in[t], t, loop[i]);
    int64_t idx[EIN_LABELS] = {0}, nout = 1, nsum = 1;
    for (int i = 0; i < no; i++) nout *= q->size[loop[i]];
    for (int i = no; i < nl; i++) nsum *= q->size[loop[i]];
    for (int64_t o = 0; o < nout; o++) {
        int64_t base[64] = {0};
        for (int t = 0; t < q->n_ops; t++)
            for (int i = 0; i < no; i++) base[t] += idx[i] * sp[t][i];
        double accf = 0.0;
        uint64_t acci = 0;
        for (int i = no; i < nl; i++) idx[i] = 0;
        for (int64_t s = 0; s < nsum; s++) {
            double pf = 1.0;
            uint64_t pi = 1;
            for (int t = 0; t < q->n_ops; t++) {
                int64_t off = base[t];
                for (int i = no; i < nl; i++) off += idx[i] * sp[t][i];
                if (cls == NUM_F32) pf *= ((const float *)bufs[t])[off];
                else if (cls == NUM_F64) pf *= ((const double *)bufs[t])[off];
                else pi *= (uint64_t)((const int64_t *)bufs[t])[off];
            }
            accf += pf, acci += pi;
            for (int i = nl - 1; i >= no && ++idx[i] == q->size[loop[i]]; i--) idx[i] = 0;
        }
        if (cls == NUM_F32) ((float *)ybuf)[o] = (float)accf;
        else if (cls == NUM_F64) ((double *)ybuf)[o] = accf;
        else ((int64_t *)ybuf)[o] = (int64_t)acci;
        for (int i = no - 1; i >= 0 && ++idx[i] == q->size[loop[i]]; i--) idx[i] = 0;
    }
    free(sp);
    return PL_OK;
}

/* dst (contiguous, dims) = src read with per-dim strides. */
static void gather_f32(const float *src, int rank, const int64_t *dims, const int64_t *strides,
                       float *dst) {
    int64_t idx[EIN_LABELS] = {0}, n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    int64_t off = 0;
    for (int64_t e = 0; e < n; e++) {
        dst[e] = src[off];
        for (int i = rank - 1; i >= 0; i--) {
            off += strides[i];
            if (++idx[i] < dims[i]) break;
            off -= strides[i] * dims[i];
            idx[i] = 0;
        }
    }
}

/* Two float operands whose labels are each batch (A, B, out), M (A, out), N (B, out) or
 * K (A, B) with no repeats or broadcasts: permute to [batch,M,K] x [batch,K,N] and run the
 * GEMM per batch. Sets *done false when the equation is not of that form. */
static pl_status einsum_matmul(const einsum_eq *q, const pl_tensor *const *in,
                               float *const *bufs, float *y, bool *done) {
    *done = false;
    if (q->n_ops != 2) return PL_OK;
    int where[EIN_LABELS] = {0}; /* bit 0: A, bit 1: B, bit 2: out */
    for (int t = 0; t < 2; t++)
        for (int d = 0; d < q->rank[t]; d++) {
            int l = q->labels[t][d];
            if ((where[l] & (1 << t)) || in[t]->dims[d] != q->size[l]) return PL_OK;
            where[l] |= 1 << t;
        }
    for (int i = 0; i < q->out_rank; i++) where[q->out[i]] |= 4;
    int bl[EIN_LABELS], ml[EIN_LABELS], nl[EIN_LABELS], kl[EIN_LABELS], nb = 0, nm = 0, nn = 0, nk = 0;
    int64_t bs = 1, ms = 1, ns = 1, ks = 1;
    for (int i = 0; i < q->out_rank; i++) {
        int l = q->out[i];
        if (where[l] == 7) bl[nb++] = l, bs *= q->size[l];
        else if (where[l] == 5) ml[nm++] = l, ms *= q->size[l];
        else if (where[l] == 6) nl[nn++] = l, ns *= q->size[l];
        else return PL_OK;
    }
    for (int d = 0; d < q->rank[0]; d++) {
        int l = q->labels[0][d];
        if (where[l] == 3) kl[nk++] = l, ks *= q->size[l];
        else if (where[l] != 7 && where[l] != 5) return PL_OK;
    }
    for (int d = 0; d < q->rank[1]; d++)
        if (where[q->labels[1][d]] == 2) return PL_OK;
    /* permuted copies of A [b..., m..., k...] and B [b..., k..., n...] */
    int order_a[EIN_LABELS], order_b[EIN_LABELS], ra = 0, rb = 0;
    for (int i = 0; i < nb; i++) order_a[ra++] = bl[i], order_b[rb++] = bl[i];
    for (int i = 0; i < nm; i++) order_a[ra++] = ml[i];
    for (int i = 0; i < nk; i++) order_a[ra++] = kl[i], order_b[rb++] = kl[i];
    for (int i = 0; i < nn; i++) order_b[rb++] = nl[i];
    int64_t da[EIN_LABELS], sa[EIN_LABELS], db[EIN_LABELS], sb[EIN_LABELS];
    for (int i = 0; i < ra; i++) da[i] = q->size[order_a[i]], sa[i] = einsum_stride(q, in[0], 0, order_a[i]);
    for (int i = 0; i < rb; i++) db[i] = q->size[order_b[i]], sb[i] = einsum_stride(q, in[1], 1, order_b[i]);
    int64_t ysz = bs * ms * ns;
    float *pa = malloc((size_t)(bs * ms * ks + 1) * sizeof *pa);
    float *pb = malloc((size_t)(bs * ks * ns + 1) * sizeof *pb);
    float *pr = malloc((size_t)(ysz + 1) * sizeof *pr);
    pl_status st = PL_OK;
    if (!pa || !pb || !pr) st = pl_err(PL_ERR_NOMEM, "out of memory");
    if (st == PL_OK) {
        gather_f32(bufs[0], ra, da, sa, pa);
        gather_f32(bufs[1], rb, db, sb, pb);
        memset(pr, 0, (size_t)(ysz + 1) * sizeof *pr);
        for (int64_t b = 0; b < bs && st == PL_OK; b++)
            st = pl_sgemm(false, false, ms, ns, ks, 1.0f, pa + b * ms * ks, ks, pb + b * ks * ns,
                          ns, 0.0f, pr + b * ms * ns, ns);
    }
    if (st == PL_OK) {
        /* pr is [b..., m..., n...]; read it in output label order */
        int64_t rstride[EIN_LABELS], dims[EIN_LABELS], s = 1;
        int rorder[EIN_LABELS], rr = 0;
        for (int i = 0; i < nb; i++) rorder[rr++] = bl[i];
        for (int i = 0; i < nm; i++) rorder[rr++] = ml[i];
        for (int i = 0; i < nn; i++) rorder[rr++] = nl[i];
        int64_t lstride[EIN_LABELS] = {0};
        for (int i = rr - 1; i >= 0; i--) lstride[rorder[i]] = s, s *= q->size[rorder[i]];
        for (int i = 0; i < q->out_rank; i++)
            dims[i] = q->size[q->out[i]], rstride[i] = lstride[q->out[i]];
        gather_f32(pr, q->out_rank, dims, rstride, y);
        *done = true;
    }
    free(pa);
    free(pb);
    free(pr);
    return st;
}

/* Einsum: any equation (implicit or explicit output, repeated labels, ellipsis). */
static pl_status op_einsum(pl_kernel_ctx *ctx) {
    const char *eq = pl_attr_string(ctx->node, "equation", NULL);
    if (!eq) return pl_err(PL_ERR_INVALID, "attribute 'equation' is required");
    int n = ctx->n_in;
    if (n > 64) return pl_err(PL_ERR_UNSUPPORTED, "Einsum with %d inputs (at most 64)", n);
    const pl_tensor *in[64];
    for (int i = 0; i < n; i++) {
        PL_TRY(pl_in_req(ctx, i, &in[i]));
        if (in[i]->dtype != in[0]->dtype)
            return pl_err(PL_ERR_INVALID, "input %d is %s, input 0 is %s", i,
                          pl_dtype_name(in[i]->dtype), pl_dtype_name(in[0]->dtype));
    }
    num_class cls;
    PL_TRY(class_of(in[0]->dtype, "Einsum", &cls));
    einsum_eq *q = malloc(sizeof *q);
    if (!q) return pl_err(PL_ERR_NOMEM, "out of memory");
    pl_status st = einsum_parse(eq, n, in, q);
    int64_t odims[PL_MAX_RANK];
    for (int i = 0; st == PL_OK && i < q->out_rank; i++) odims[i] = q->size[q->out[i]];
    pl_tensor *y = NULL;
    void *ybuf = NULL, *bufs[64];
    bool yown = false, own[64] = {false};
    int loaded = 0;
    if (st == PL_OK) st = out_buf(ctx, 0, in[0]->dtype, cls, q->out_rank, odims, &y, &ybuf, &yown);
    for (; st == PL_OK && loaded < n; loaded++) st = load_buf(in[loaded], cls, &bufs[loaded], &own[loaded]);
    bool done = false;
    if (st == PL_OK && cls == NUM_F32 && y->numel > 0)
        st = einsum_matmul(q, in, (float *const *)bufs, ybuf, &done);
    if (st == PL_OK && !done && y->numel > 0) st = einsum_generic(q, cls, in, bufs, ybuf);
    for (int i = 0; i < loaded; i++)
        if (own[i]) free(bufs[i]);
    free(q);
    if (st != PL_OK) {
        if (yown) free(ybuf);
        return st;
    }
    store_buf(y, cls, ybuf, yown);
    return PL_OK;
}

const pl_op_schema pl_ops_gemm[] = {
    {"", "Gemm", 2, 3, 1, 1, op_gemm},
    {"", "MatMul", 2, 2, 1, 1, op_matmul},
    {"", "Einsum", 1, -1, 1, 1, op_einsum},
    {0},
};
