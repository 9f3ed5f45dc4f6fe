/* own_se.c - plaster:se, the squeeze-excitation block as one node (made by the se pass,
 * passes.c): y = x * gate(fc2(act(fc1(mean over space of x)))), per sample and channel.
 *
 * oneDNN runs such a block as five primitives (average pooling, two 1x1 convolutions on a
 * 1x1 image, a sigmoid and a broadcast multiply), each a dispatch and, above the small-problem
 * threshold, a fork of the thread team; the two convolutions are a few hundred to a few
 * thousand multiply-adds. Here it is one thread team and two passes over x in the layout x
 * arrives in (plain NCHW, channels-last or oneDNN's nChw8c/nChw16c blocks): the channel sums,
 * then, after the fully connected layers (fc1 split by rows, fc2 by blocks of columns over its
 * transposed weights), the multiply, in place over x when this node is its last reader.
 *
 * Every layout is seen as panels: for sample n and channel block cb, HW rows of B floats at
 * n * ns + cb * cs (B = 1 for plain NCHW, B = C for channels-last with a single block, the
 * block size for nChwXc). */
#include "cpu.h"

#ifdef PL_HAVE_DNNL
#include "dnnl/dnnl_util.h"
#endif

#include <omp.h>

#include <stdlib.h>
#include <string.h>

bool pl_own_se_enabled(void) {
    const char *e = getenv("PL_OWN_SE");
    return !(e && e[0] == '0') && !pl_tactic_name_off("plaster:se");
}

typedef struct se_view {
    int64_t N, C, HW;
    int64_t B;  /* floats per row of a panel */
    int64_t nb; /* channel blocks: ceil(C / B) */
    int64_t ns, cs;
} se_view;

static void plain_view(const pl_tensor *x, se_view *v) {
    v->N = x->dims[0];
    v->C = x->dims[1];
    v->HW = 1;
    for (int d = 2; d < x->rank; d++) v->HW *= x->dims[d];
    v->B = 1;
    v->nb = v->C;
    v->cs = v->HW;
    v->ns = v->C * v->HW;
}

#ifdef PL_HAVE_DNNL
/* The panel view of layout md for x's shape, or false for a layout it does not cover. */
static bool dnnl_view(const dnnl_memory_desc_t *md, const pl_tensor *x, se_view *v) {
    if (md->format_kind != dnnl_blocked || md->data_type != dnnl_f32 || md->ndims != x->rank || md->offset0) return false;
    plain_view(x, v);
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int nd = md->ndims;
    for (int d = 0; d < nd; d++)
        if (md->dims[d] != x->dims[d] || (d != 1 && md->padded_dims[d] != md->dims[d])) return false;
    /* spatial dims dense, rows of B floats */
    for (int d = 2; d < nd - 1; d++)
        if (b->strides[d] != b->strides[d + 1] * md->dims[d + 1]) return false;
    int64_t row = b->strides[nd - 1];
    v->ns = b->strides[0];
    if (b->inner_nblks == 0) {
        if (row == 1 && b->strides[1] == v->HW) return true; /* plain */
        if (b->strides[1] == 1 && row == v->C) {             /* channels-last */
            v->B = v->C;
            v->nb = 1;
            v->cs = 0;
            return true;
        }
        return false;
    }
    if (b->inner_nblks != 1 || b->inner_idxs[0] != 1 || row != b->inner_blks[0]) return false;
    v->B = b->inner_blks[0];
    v->nb = (v->C + v->B - 1) / v->B;
    v->cs = b->strides[1];
    return md->padded_dims[1] >= v->nb * v->B;
}
#endif

/* acc[0..B) += the sum of rows [r0, r1) of a panel of B floats. */
static void sum_rows(const float *s, int64_t B, int64_t r0, int64_t r1, float *acc) {
    s += r0 * B;
    if (B == 1) {
        float t = 0;
#pragma omp simd reduction(+ : t)
        for (int64_t i = 0; i < r1 - r0; i++) t += s[i];
        acc[0] += t;
        return;
    }
    for (int64_t i = r0; i < r1; i++, s += B)
#pragma omp simd
        for (int64_t c = 0; c < B; c++) acc[c] += s[c];
}

/* dst rows [r0, r1) = src rows * scale[0..B) (dst may be src). */
static void scale_rows(const float *src, float *dst, int64_t B, int64_t r0, int64_t r1, const float *scale) {
    src += r0 * B;
    dst += r0 * B;
    if (B == 1) {
        float k = scale[0];
#pragma omp simd
        for (int64_t i = 0; i < r1 - r0; i++) dst[i] = src[i] * k;
        return;
    }
    for (int64_t i = r0; i < r1; i++, src += B, dst += B)
#pragma omp simd
        for (int64_t c = 0; c < B; c++) dst[c] = src[c] * scale[c];
}

/* The node's post-ops [p0, p1) over n floats (activations, checked by se_accepts). */
static void posts(const pl_xnode *xn, int p0, int p1, float *d, int64_t n) {
    for (int p = p0; p < p1; p++) (void)pl_post_apply_f32(&xn->post[p], d, n);
}

/* fc1 row k of one sample: act(W1[k] . m + B1[k]). */
static float fc1_row(const pl_xnode *xn, const float *w1, const float *b1, const float *m, int64_t C, int64_t k, int n1) {
    const float *w = w1 + k * C;
    float t = 0;
#pragma omp simd reduction(+ : t)
    for (int64_t c = 0; c < C; c++) t += w[c] * m[c];
    t += b1 ? b1[k] : 0.0f;
    posts(xn, 0, n1, &t, 1);
    return t;
}

/* fc2 columns [c0, c1) of one sample: gate(q W2^T + B2), from W2 transposed ([R, C]). */
static void fc2_cols(const pl_xnode *xn, const float *w2t, const float *b2, const float *q, float *s, int64_t C,
                     int64_t R, int64_t c0, int64_t c1, int n1) {
    for (int64_t c = c0; c < c1; c++) s[c] = b2 ? b2[c] : 0.0f;
    for (int64_t k = 0; k < R; k++) {
        const float *w = w2t + k * C;
        float qk = q[k];
#pragma omp simd
        for (int64_t c = c0; c < c1; c++) s[c] += qk * w[c];
    }
    posts(xn, n1, xn->n_post, s + c0, c1 - c0);
}

static bool se_accepts(const pl_xgraph *xg, const pl_xnode *xn) {
    if (xn->node->domain[0] || strcmp(xn->op, "SqueezeExcitation") || xn->n_in != 5 || xn->n_out != 1) return false;
    const pl_tensor *w1 = xn->in[1] >= 0 ? xg->consts[xn->in[1]] : NULL;
    const pl_tensor *w2t = xn->in[3] >= 0 ? xg->consts[xn->in[3]] : NULL;
    int64_t n1 = pl_attr_int(xn->node, "fc1_posts", 0);
    if (n1 < 0 || n1 > xn->n_post) return false;
    for (int p = 0; p < xn->n_post; p++)
        if (!pl_post_is_activation(xn->post[p].kind)) return false;
    return w1 && w2t && w1->dtype == PL_DT_FLOAT && w2t->dtype == PL_DT_FLOAT && w1->rank >= 2 &&
           w2t->rank == 2 && w2t->dims[0] == w1->dims[0] && w2t->dims[1] == w1->dims[1];
}

static pl_status se_run(pl_xrun *r, pl_xnode *xn) {
    const pl_xgraph *xg = pl_xrun_graph(r);
    const pl_tensor *w1 = xg->consts[xn->in[1]];
    int64_t R = w1->dims[0], C = w1->dims[1];
    int n1 = (int)pl_attr_int(xn->node, "fc1_posts", 0);
    const pl_tensor *x;
    se_view v;
    float *xd, *yd;
#ifdef PL_HAVE_DNNL
    dnnl_memory_desc_t xmd;
    void *xdv;
    PL_TRY(pl_xrun_dnnl_in(r, xn, 0, &xmd, &xdv, &x));
    bool viewed = x->dtype == PL_DT_FLOAT && x->rank >= 3 && dnnl_view(&xmd, x, &v);
#else
    bool viewed = false;
#endif
    if (!viewed) PL_TRY(pl_xrun_in(r, xn, 0, &x));
    if (x->dtype != PL_DT_FLOAT || x->rank < 3 || x->dims[1] != C)
        return pl_err(PL_ERR_INVALID, "node '%s': input of type %s and rank %d with %lld channels, the squeeze-excitation weights take %lld",
                      xn->node->name, pl_dtype_name(x->dtype), x->rank, x->rank >= 2 ? (long long)x->dims[1] : 0LL,
                      (long long)C);
#ifdef PL_HAVE_DNNL
    if (viewed) {
        void *ydv;
        xd = xdv;
        PL_TRY(pl_xrun_dnnl_out_reuse(r, xn, 0, &xmd, PL_DT_FLOAT, x->rank, x->dims, xn->in[0], &ydv));
        yd = ydv;
    } else
#endif
    {
        plain_view(x, &v);
        pl_tensor *y;
        xd = x->data;
        PL_TRY(pl_xrun_out(r, xn, 0, PL_DT_FLOAT, x->rank, x->dims, &y));
        yd = y->data;
    }
    pl_xrun_post_done(r);
    if (x->numel == 0) return PL_OK;

    int nt = pl_xrun_threads(r);
    if (x->numel + 2 * v.N * R * C < 32768) nt = 1; /* less than a team's fork is worth */
    int64_t panels = v.N * v.nb;
    int64_t k = panels >= 2 * nt ? 1 : (2 * nt + panels - 1) / panels; /* chunks per panel */
    if (k > v.HW) k = v.HW;
    int64_t rows = (v.HW + k - 1) / k, items = panels * k;
    int64_t nbB = v.nb * v.B;
    size_t need = ((size_t)items * (size_t)v.B + (size_t)v.N * (size_t)(2 * nbB + R)) * sizeof(float);
    float *part = pl_xrun_scratch(r, 3, need);
    if (!part) return pl_err(PL_ERR_NOMEM, "out of memory (%zu bytes of squeeze-excitation scratch)", need);
    float *mean = part + items * v.B, *scale = mean + v.N * nbB, *q = scale + v.N * nbB; /* q: [N][R] */

    const float *w1d = w1->data, *w2t = xg->consts[xn->in[3]]->data;
    const float *b1 = xn->in[2] >= 0 ? xg->consts[xn->in[2]]->data : NULL;
    const float *b2 = xn->in[4] >= 0 ? xg->consts[xn->in[4]]->data : NULL;
    const int64_t CW = 64; /* fc2 columns per work item */
    int64_t ncw = (C + CW - 1) / CW;
    float inv = 1.0f / (float)v.HW;
    /* one team for the whole node: sums, means, fc1 rows, fc2 columns, the multiply */
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
#pragma omp for schedule(static)
        for (int64_t it = 0; it < items; it++) {
            int64_t pan = it / k, j = it % k, n = pan / v.nb, cb = pan % v.nb;
            int64_t r0 = j * rows, r1 = r0 + rows < v.HW ? r0 + rows : v.HW;
            float *acc = part + it * v.B;
            memset(acc, 0, (size_t)v.B * sizeof *acc);
            if (r0 < r1) sum_rows(xd + n * v.ns + cb * v.cs, v.B, r0, r1, acc);
        }
#pragma omp for schedule(static)
        for (int64_t pan = 0; pan < panels; pan++) {
            int64_t n = pan / v.nb, cb = pan % v.nb;
            float *m = mean + n * nbB + cb * v.B;
            for (int64_t c = 0; c < v.B; c++) {
                float t = 0;
                for (int64_t j = 0; j < k; j++) t += part[(pan * k + j) * v.B + c];
                m[c] = t * inv;
            }
        }
#pragma omp for schedule(static)
        for (int64_t i = 0; i < v.N * R; i++)
            q[i] = fc1_row(xn, w1d, b1, mean + (i / R) * nbB, C, i % R, n1);
#pragma omp for schedule(static)
        for (int64_t i = 0; i < v.N * ncw; i++) {
            int64_t n = i / ncw, c0 = (i % ncw) * CW, c1 = c0 + CW < C ? c0 + CW : C;
            float *sn = scale + n * nbB;
            fc2_cols(xn, w2t, b2, q + n * R, sn, C, R, c0, c1, n1);
            if (c1 == C)
                for (int64_t c = C; c < nbB; c++) sn[c] = 0; /* padded channels of a block stay zero */
        }
#pragma omp for schedule(static)
        for (int64_t it = 0; it < items; it++) {
            int64_t pan = it / k, j = it % k, n = pan / v.nb, cb = pan % v.nb;
            int64_t r0 = j * rows, r1 = r0 + rows < v.HW ? r0 + rows : v.HW;
            int64_t off = n * v.ns + cb * v.cs;
            if (r0 < r1) scale_rows(xd + off, yd + off, v.B, r0, r1, scale + n * nbB + cb * v.B);
        }
    }
    return PL_OK;
}

const pl_tactic pl_tactic_own_se = {.name = "plaster:se", .accepts = se_accepts, .run = se_run};
