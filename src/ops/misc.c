/* misc.c - reference kernels without a larger family: NonMaxSuppression, Det, the signal ops
 * (DFT, STFT, Hann/Hamming/BlackmanWindow, MelWeightMatrix) and the random generators
 * (RandomUniform[Like], RandomNormal[Like], Bernoulli, Multinomial).
 *
 * Random generators: a splitmix64 stream. With a `seed` attribute the stream starts from the
 * seed's float bits, so equal seeds give equal outputs; without one, each call takes the next
 * value of a process-wide counter (deterministic for a given order of calls in a process).
 * Uniform doubles are the top 53 bits / 2^53; normals come from Box-Muller. */
#include "ops.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* Optional input `i` as a tensor; NULL when omitted or an empty optional. */
static const pl_tensor *opt_in(const pl_kernel_ctx *ctx, int i) {
    const pl_tensor *t = pl_in(ctx, i);
    return t && t->kind == PL_KIND_TENSOR ? t : NULL;
}

/* Single value of a scalar or 1-element integer input. */
static pl_status scalar_int(const pl_tensor *t, const char *what, int64_t *v) {
    if (!pl_dtype_is_int(t->dtype) || t->numel != 1)
        return pl_err(PL_ERR_INVALID, "%s must be one integer, has %lld values of %s", what,
                      (long long)t->numel, pl_dtype_name(t->dtype));
    *v = pl_get_i64(t, 0);
    return PL_OK;
}

static pl_status scalar_float(const pl_tensor *t, const char *what, double *v) {
    if (t->numel != 1 || t->dtype == PL_DT_STRING || t->dtype == PL_DT_BOOL)
        return pl_err(PL_ERR_INVALID, "%s must be one number, has %lld values of %s", what,
                      (long long)t->numel, pl_dtype_name(t->dtype));
    *v = pl_get_f64(t, 0);
    return PL_OK;
}

/* ---------------------------------------------------------------- NonMaxSuppression */

typedef struct nms_box {
    float x0, y0, x1, y1; /* min/max corners */
} nms_box;

typedef struct nms_cand {
    int64_t index;
    float score;
} nms_cand;

/* Higher score first; equal scores keep the lower box index first. */
static int nms_cmp(const void *pa, const void *pb) {
    const nms_cand *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static nms_box nms_corners(const float *b, bool center) {
    nms_box r;
    if (center) {
        r.x0 = b[0] - b[2] / 2;
        r.x1 = b[0] + b[2] / 2;
        r.y0 = b[1] - b[3] / 2;
        r.y1 = b[1] + b[3] / 2;
    } else {
        r.y0 = fminf(b[0], b[2]);
        r.y1 = fmaxf(b[0], b[2]);
        r.x0 = fminf(b[1], b[3]);
        r.x1 = fmaxf(b[1], b[3]);
    }
    return r;
}

/* True when IoU(a, b) > threshold (ONNX Runtime's SuppressByIOU). */
static bool nms_suppress(nms_box a, nms_box b, float threshold) {
    float ix0 = fmaxf(a.x0, b.x0), ix1 = fminf(a.x1, b.x1);
    float iy0 = fmaxf(a.y0, b.y0), iy1 = fminf(a.y1, b.y1);
    if (ix1 <= ix0 || iy1 <= iy0) return false;
    float inter = (ix1 - ix0) * (iy1 - iy0);
    float area_a = (a.x1 - a.x0) * (a.y1 - a.y0), area_b = (b.x1 - b.x0) * (b.y1 - b.y0);
    float uni = area_a + area_b - inter;
    if (inter <= 0 || area_a <= 0 || area_b <= 0 || uni <= 0) return false;
    return inter / uni > threshold;
}

static pl_status op_nms(pl_kernel_ctx *ctx) {
    const pl_tensor *boxes, *scores;
    PL_TRY(pl_in_req(ctx, 0, &boxes));
    PL_TRY(pl_in_req(ctx, 1, &scores));
    const pl_tensor *tmax = opt_in(ctx, 2), *tiou = opt_in(ctx, 3), *tscore = opt_in(ctx, 4);
    char s1[128], s2[128];
    if (boxes->rank != 3 || boxes->dims[2] != 4 || scores->rank != 3 ||
        scores->dims[0] != boxes->dims[0] || scores->dims[2] != boxes->dims[1])
        return pl_err(PL_ERR_INVALID, "boxes %s and scores %s must be [B,N,4] and [B,C,N]",
                      pl_dims_str(boxes->rank, boxes->dims, s1, sizeof s1),
                      pl_dims_str(scores->rank, scores->dims, s2, sizeof s2));
    if (boxes->dtype != PL_DT_FLOAT || scores->dtype != PL_DT_FLOAT)
        return pl_err(PL_ERR_UNSUPPORTED, "boxes/scores of dtype %s/%s (float expected)",
                      pl_dtype_name(boxes->dtype), pl_dtype_name(scores->dtype));
    int64_t max_out = 0;
    double iou = 0.0, sth = 0.0;
    if (tmax && tmax->numel > 0) PL_TRY(scalar_int(tmax, "max_output_boxes_per_class", &max_out));
    if (tiou && tiou->numel > 0) PL_TRY(scalar_float(tiou, "iou_threshold", &iou));
    bool has_sth = tscore && tscore->numel > 0;
    if (has_sth) PL_TRY(scalar_float(tscore, "score_threshold", &sth));
    if (iou < 0.0 || iou > 1.0)
        return pl_err(PL_ERR_INVALID, "iou_threshold %g must be within [0, 1]", iou);
    int64_t cpb = pl_attr_int(ctx->node, "center_point_box", 0);
    if (cpb != 0 && cpb != 1)
        return pl_err(PL_ERR_INVALID, "center_point_box %lld must be 0 or 1", (long long)cpb);
    if (max_out < 0) max_out = 0;
    int64_t nb = boxes->dims[0], nc = scores->dims[1], n = boxes->dims[1];
    if (max_out > n) max_out = n;
    int64_t cap;
    if (!pl_mul_size(nb * nc, max_out, &cap)) return pl_err(PL_ERR_INVALID, "too many boxes");
    nms_cand *cand = malloc((size_t)(n ? n : 1) * sizeof *cand);
    nms_box *sel = malloc((size_t)(max_out ? max_out : 1) * sizeof *sel);
    int64_t *res = malloc((size_t)(cap ? cap : 1) * 3 * sizeof *res);
    if (!cand || !sel || !res) {
        free(cand);
        free(sel);
        free(res);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    const float *bd = boxes->data, *sd = scores->data;
    int64_t nres = 0;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t c = 0; c < nc && max_out > 0; c++) {
            const float *cs = sd + (b * nc + c) * n;
            int64_t nk = 0;
            for (int64_t i = 0; i < n; i++)
                if (!has_sth || cs[i] > (float)sth) cand[nk++] = (nms_cand){i, cs[i]};
            qsort(cand, (size_t)nk, sizeof *cand, nms_cmp);
            int64_t ns = 0;
            for (int64_t k = 0; k < nk && ns < max_out; k++) {
                nms_box bx = nms_corners(bd + (b * n + cand[k].index) * 4, cpb == 1);
                bool keep = true;
                for (int64_t s = 0; s < ns && keep; s++) keep = !nms_suppress(bx, sel[s], (float)iou);
                if (!keep) continue;
                sel[ns++] = bx;
                res[nres * 3] = b;
                res[nres * 3 + 1] = c;
                res[nres * 3 + 2] = cand[k].index;
                nres++;
            }
        }
    int64_t dims[2] = {nres, 3};
    pl_tensor *y;
    pl_status st = pl_out(ctx, 0, PL_DT_INT64, 2, dims, &y);
    if (st == PL_OK && nres) memcpy(y->data, res, (size_t)nres * 3 * sizeof *res);
    free(cand);
    free(sel);
    free(res);
    return st;
}

/* ---------------------------------------------------------------- Det */

/* Determinant of an n x n matrix (row-major, overwritten) by LU with partial pivoting. */
static double det_lu(double *a, int64_t n) {
    double det = 1.0;
    for (int64_t k = 0; k < n; k++) {
        int64_t p = k;
        for (int64_t i = k + 1; i < n; i++)
            if (fabs(a[i * n + k]) > fabs(a[p * n + k])) p = i;
        if (a[p * n + k] == 0.0) return 0.0;
        if (p != k) {
            for (int64_t j = 0; j < n; j++) {
                double t = a[k * n + j];
                a[k * n + j] = a[p * n + j];
                a[p * n + j] = t;
            }
            det = -det;
        }
        double piv = a[k * n + k];
        det *= piv;
        for (int64_t i = k + 1; i < n; i++) {
            double f = a[i * n + k] / piv;
            for (int64_t j = k + 1; j < n; j++) a[i * n + j] -= f * a[k * n + j];
        }
    }
    return det;
}

static pl_status op_det(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    char s[128];
    if (x->rank < 2 || x->dims[x->rank - 1] != x->dims[x->rank - 2])
        return pl_err(PL_ERR_INVALID, "X %s must be [*, M, M]",
                      pl_dims_str(x->rank, x->dims, s, sizeof s));
    if (!pl_dtype_is_float(x->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "X of dtype %s (float types only)",
                      pl_dtype_name(x->dtype));
    int64_t m = x->dims[x->rank - 1], mm;
    if (!pl_mul_size(m, m, &mm)) return pl_err(PL_ERR_INVALID, "matrix size overflows");
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, x->dtype, x->rank - 2, x->dims, &y));
    double *a = malloc((size_t)(mm ? mm : 1) * sizeof *a);
    if (!a) return pl_err(PL_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; b < y->numel; b++) {
        for (int64_t i = 0; i < mm; i++) a[i] = pl_get_f64(x, b * mm + i);
        pl_set_f64(y, b, det_lu(a, m));
    }
    free(a);
    return PL_OK;
}

/* ---------------------------------------------------------------- DFT / STFT */

/* out[k] = sum_j in[j] * exp(-+2 pi i j k / n) for k < nout; in/out hold (re, im) pairs. */
static void dft_1d(const double *in, int64_t n, int64_t nout, bool inverse, const double *cosv,
                   const double *sinv, double *out) {
    double sign = inverse ? 1.0 : -1.0;
    for (int64_t k = 0; k < nout; k++) {
        double re = 0.0, im = 0.0;
        int64_t idx = 0;
        for (int64_t j = 0; j < n; j++) {
            double c = cosv[idx], s = sign * sinv[idx];
            re += in[2 * j] * c - in[2 * j + 1] * s;
            im += in[2 * j] * s + in[2 * j + 1] * c;
            idx += k;
            if (idx >= n) idx %= n;
        }
        if (inverse) {
            re /= (double)n;
            im /= (double)n;
        }
        out[2 * k] = re;
        out[2 * k + 1] = im;
    }
}

/* Twiddle tables cos/sin(2 pi j / n), malloc'ed into *cosv and *sinv (one block). */
static pl_status twiddles(int64_t n, double **cosv, double **sinv) {
    *cosv = malloc((size_t)(n ? n : 1) * 2 * sizeof **cosv);
    if (!*cosv) return pl_err(PL_ERR_NOMEM, "out of memory");
    *sinv = *cosv + n;
    for (int64_t j = 0; j < n; j++) {
        (*cosv)[j] = cos(2.0 * M_PI * (double)j / (double)n);
        (*sinv)[j] = sin(2.0 * M_PI * (double)j / (double)n);
    }
    return PL_OK;
}

static pl_status op_dft(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    char s[128];
    if (x->rank < 2 || (x->dims[x->rank - 1] != 1 && x->dims[x->rank - 1] != 2))
        return pl_err(PL_ERR_INVALID, "input %s must end in a dimension of 1 (real) or 2 "
                      "(complex)", pl_dims_str(x->rank, x->dims, s, sizeof s));
    if (!pl_dtype_is_float(x->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "input of dtype %s (float types only)",
                      pl_dtype_name(x->dtype));
    int64_t axis_v = pl_attr_int(ctx->node, "axis", 1);
    const pl_tensor *tax = ctx->opset >= 20 ? opt_in(ctx, 2) : NULL;
    if (ctx->opset >= 20) axis_v = -2;
    if (tax) PL_TRY(scalar_int(tax, "axis", &axis_v));
    int axis;
    PL_TRY(pl_axis(axis_v, x->rank, "axis", &axis));
    if (axis == x->rank - 1)
        return pl_err(PL_ERR_INVALID, "axis %lld is the complex dimension", (long long)axis_v);
    bool inverse = pl_attr_int(ctx->node, "inverse", 0) != 0;
    bool onesided = pl_attr_int(ctx->node, "onesided", 0) != 0;
    /* inverse + onesided: x holds a half spectrum; y is the real signal (irfft) */
    bool irfft = inverse && onesided;
    int64_t len = x->dims[axis], n = irfft ? 2 * (len - 1) : len;
    const pl_tensor *tlen = opt_in(ctx, 1);
    if (tlen && tlen->numel > 0) PL_TRY(scalar_int(tlen, "dft_length", &n));
    if (n < 1 || n > (1 << 24))
        return pl_err(PL_ERR_INVALID, "dft_length %lld must be within [1, 2^24]%s", (long long)n,
                      irfft && !(tlen && tlen->numel > 0) ? " (from a half spectrum of 1 bin)"
                                                           : "");
    int64_t nout = onesided && !irfft ? n / 2 + 1 : n;
    int64_t dims[PL_MAX_RANK];
    memcpy(dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
    dims[axis] = nout;
    dims[x->rank - 1] = irfft ? 1 : 2;
    int64_t outer = 1, inner = 1, cin = x->dims[x->rank - 1];
    for (int d = 0; d < axis; d++) outer *= x->dims[d];
    for (int d = axis + 1; d < x->rank - 1; d++) inner *= x->dims[d];
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, x->dtype, x->rank, dims, &y));
    if (y->numel == 0) return PL_OK;
    double *cosv, *sinv;
    PL_TRY(twiddles(n, &cosv, &sinv));
    double *buf = malloc((size_t)(n + nout) * 2 * sizeof *buf);
    if (!buf) {
        free(cosv);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    double *res = buf + 2 * n;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            for (int64_t j = 0; j < n; j++) {
                /* irfft: bins above n/2 are the conjugates of the mirrored ones */
                bool mirror = irfft && j > n / 2;
                int64_t src = mirror ? n - j : j;
                int64_t e = ((o * len + src) * inner + i) * cin;
                buf[2 * j] = src < len ? pl_get_f64(x, e) : 0.0;
                buf[2 * j + 1] = src < len && cin == 2 ? pl_get_f64(x, e + 1) : 0.0;
                if (mirror) buf[2 * j + 1] = -buf[2 * j + 1];
            }
            dft_1d(buf, n, nout, inverse, cosv, sinv, res);
            int64_t cout = irfft ? 1 : 2;
            for (int64_t k = 0; k < nout; k++) {
                int64_t e = ((o * nout + k) * inner + i) * cout;
                pl_set_f64(y, e, res[2 * k]);
                if (!irfft) pl_set_f64(y, e + 1, res[2 * k + 1]);
            }
        }
    free(buf);
    free(cosv);
    return PL_OK;
}

static pl_status op_stft(pl_kernel_ctx *ctx) {
    const pl_tensor *sig, *tstep;
    PL_TRY(pl_in_req(ctx, 0, &sig));
    PL_TRY(pl_in_req(ctx, 1, &tstep));
    const pl_tensor *win = opt_in(ctx, 2), *tlen = opt_in(ctx, 3);
    char s[128];
    if (sig->rank != 3 || (sig->dims[2] != 1 && sig->dims[2] != 2))
        return pl_err(PL_ERR_INVALID, "signal %s must be [batch, length, 1 or 2]",
                      pl_dims_str(sig->rank, sig->dims, s, sizeof s));
    if (!pl_dtype_is_float(sig->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "signal of dtype %s (float types only)",
                      pl_dtype_name(sig->dtype));
    int64_t step, flen = -1;
    PL_TRY(scalar_int(tstep, "frame_step", &step));
    if (tlen && tlen->numel > 0) PL_TRY(scalar_int(tlen, "frame_length", &flen));
    if (win && win->numel > 0) {
        if (win->rank != 1) return pl_err(PL_ERR_INVALID, "window must be 1-D");
        if (flen >= 0 && flen != win->dims[0])
            return pl_err(PL_ERR_INVALID, "frame_length %lld differs from the window length "
                          "%lld", (long long)flen, (long long)win->dims[0]);
        flen = win->dims[0];
    } else {
        win = NULL;
    }
    int64_t slen = sig->dims[1], cin = sig->dims[2];
    if (flen < 1 || flen > slen || flen > (1 << 24) || step < 1)
        return pl_err(PL_ERR_INVALID, "frame_length %lld / frame_step %lld invalid for a signal "
                      "of length %lld", (long long)flen, (long long)step, (long long)slen);
    bool onesided = pl_attr_int(ctx->node, "onesided", 1) != 0;
    int64_t frames = (slen - flen) / step + 1, bins = onesided ? flen / 2 + 1 : flen;
    int64_t dims[4] = {sig->dims[0], frames, bins, 2};
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, sig->dtype, 4, dims, &y));
    double *cosv, *sinv;
    PL_TRY(twiddles(flen, &cosv, &sinv));
    double *buf = malloc((size_t)(flen + bins) * 2 * sizeof *buf);
    if (!buf) {
        free(cosv);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    double *res = buf + 2 * flen;
    for (int64_t b = 0; b < sig->dims[0]; b++)
        for (int64_t f = 0; f < frames; f++) {
            for (int64_t j = 0; j < flen; j++) {
                int64_t e = (b * slen + f * step + j) * cin;
                double w = win ? pl_get_f64(win, j) : 1.0;
                buf[2 * j] = pl_get_f64(sig, e) * w;
                buf[2 * j + 1] = cin == 2 ? pl_get_f64(sig, e + 1) * w : 0.0;
            }
            dft_1d(buf, flen, bins, false, cosv, sinv, res);
            for (int64_t k = 0; k < bins; k++) {
                int64_t e = ((b * frames + f) * bins + k) * 2;
                pl_set_f64(y, e, res[2 * k]);
                pl_set_f64(y, e + 1, res[2 * k + 1]);
            }
        }
    free(buf);
    free(cosv);
    return PL_OK;
}

/* ---------------------------------------------------------------- windows, mel matrix */

/* output_datatype attribute as a numeric dtype (default float). */
static pl_status out_dtype(const pl_kernel_ctx *ctx, pl_dtype *t) {
    int64_t v = pl_attr_int(ctx->node, "output_datatype", PL_DT_FLOAT);
    if (!pl_dtype_valid((int)v) || v == PL_DT_STRING || v == PL_DT_BOOL)
        return pl_err(PL_ERR_UNSUPPORTED, "output_datatype %lld", (long long)v);
    *t = (pl_dtype)v;
    return PL_OK;
}

enum { WIN_HANN, WIN_HAMMING, WIN_BLACKMAN };

/* Generalised cosine windows; periodic windows use N = size, symmetric N = size - 1. */
static pl_status window_op(pl_kernel_ctx *ctx, int kind) {
    const pl_tensor *ts;
    PL_TRY(pl_in_req(ctx, 0, &ts));
    int64_t size;
    PL_TRY(scalar_int(ts, "size", &size));
    if (size < 0 || size > ((int64_t)1 << 40))
        return pl_err(PL_ERR_INVALID, "size %lld is out of range", (long long)size);
    pl_dtype dt;
    PL_TRY(out_dtype(ctx, &dt));
    bool periodic = pl_attr_int(ctx->node, "periodic", 1) != 0;
    double nn = (double)(periodic ? size : size - 1);
    double a0, a1, a2 = 0.0;
    if (kind == WIN_HANN) a0 = a1 = 0.5;
    else if (kind == WIN_HAMMING) a0 = 25.0 / 46.0, a1 = 1.0 - 25.0 / 46.0;
    else a0 = 0.42, a1 = 0.5, a2 = 0.08;
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, dt, 1, &size, &y));
    for (int64_t i = 0; i < size; i++) {
        double ph = 2.0 * M_PI * (double)i / nn;
        /* a window of one sample is [1] (as numpy and PyTorch give), not 0/0 */
        pl_set_f64(y, i, nn > 0 ? a0 - a1 * cos(ph) + a2 * cos(2.0 * ph) : 1.0);
    }
    return PL_OK;
}

static pl_status op_hann(pl_kernel_ctx *ctx) { return window_op(ctx, WIN_HANN); }
static pl_status op_hamming(pl_kernel_ctx *ctx) { return window_op(ctx, WIN_HAMMING); }
static pl_status op_blackman(pl_kernel_ctx *ctx) { return window_op(ctx, WIN_BLACKMAN); }

/* MelWeightMatrix as the ONNX reference computes it: triangular filters between mel-spaced
 * bin edges (num_mel_bins + 2 points), output [dft_length / 2 + 1, num_mel_bins]. */
static pl_status op_mel_weight_matrix(pl_kernel_ctx *ctx) {
    const pl_tensor *t[5];
    for (int i = 0; i < 5; i++) PL_TRY(pl_in_req(ctx, i, &t[i]));
    int64_t nmel, dftlen, rate;
    double lo, hi;
    PL_TRY(scalar_int(t[0], "num_mel_bins", &nmel));
    PL_TRY(scalar_int(t[1], "dft_length", &dftlen));
    PL_TRY(scalar_int(t[2], "sample_rate", &rate));
    PL_TRY(scalar_float(t[3], "lower_edge_hertz", &lo));
    PL_TRY(scalar_float(t[4], "upper_edge_hertz", &hi));
    if (nmel < 1 || nmel > (1 << 20) || dftlen < 1 || dftlen > (1 << 24) || rate < 1)
        return pl_err(PL_ERR_INVALID, "num_mel_bins %lld, dft_length %lld and sample_rate %lld "
                      "must be positive", (long long)nmel, (long long)dftlen, (long long)rate);
    if (!(lo >= 0.0) || !(hi >= lo))
        return pl_err(PL_ERR_INVALID, "lower_edge_hertz %g / upper_edge_hertz %g are invalid",
                      lo, hi);
    pl_dtype dt;
    PL_TRY(out_dtype(ctx, &dt));
    int64_t nspec = dftlen / 2 + 1, dims[2] = {nspec, nmel};
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, dt, 2, dims, &y));
    int64_t *edge = malloc((size_t)(nmel + 2) * sizeof *edge);
    if (!edge) return pl_err(PL_ERR_NOMEM, "out of memory");
    double mlo = 2595.0 * log10(1.0 + lo / 700.0), mhi = 2595.0 * log10(1.0 + hi / 700.0);
    double step = (mhi - mlo) / (double)(nmel + 2);
    for (int64_t i = 0; i < nmel + 2; i++) {
        double hz = 700.0 * (pow(10.0, ((double)i * step + mlo) / 2595.0) - 1.0);
        edge[i] = (int64_t)floor((double)(dftlen + 1) * hz / (double)rate);
    }
    for (int64_t i = 0; i < nmel; i++) {
        int64_t l = edge[i], c = edge[i + 1], r = edge[i + 2];
        if (c - l == 0) {
            if (c >= 0 && c < nspec) pl_set_f64(y, c * nmel + i, 1.0);
        } else {
            for (int64_t j = l; j <= c; j++)
                if (j >= 0 && j < nspec)
                    pl_set_f64(y, j * nmel + i, (double)(j - l) / (double)(c - l));
        }
        if (r - c > 0)
            for (int64_t j = c; j < r; j++)
                if (j >= 0 && j < nspec)
                    pl_set_f64(y, j * nmel + i, (double)(r - j) / (double)(r - c));
    }
    free(edge);
    return PL_OK;
}

/* ---------------------------------------------------------------- random generators */

typedef struct rng {
    uint64_t s;
} rng;

static atomic_uint_fast64_t rng_calls;

static uint64_t rng_next(rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_uniform(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

static double rng_normal(rng *r) {
    double u1 = 1.0 - rng_uniform(r), u2 = rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Starts the stream from the `seed` attribute, or from a process-wide call counter. */
static void rng_init(const pl_kernel_ctx *ctx, rng *r) {
    const pl_attr *a = pl_node_attr(ctx->node, "seed");
    if (a) {
        uint32_t bits;
        memcpy(&bits, &a->f, sizeof bits);
        r->s = 0x5EEDull << 32 | bits;
    } else {
        r->s = 0xC0FFEEull + atomic_fetch_add(&rng_calls, 1) * 0x2545F4914F6CDD1Dull;
    }
    rng_next(r);
}

/* dtype attribute of the random ops (default `dflt`), restricted to float types. */
static pl_status rand_dtype(const pl_kernel_ctx *ctx, pl_dtype dflt, bool any, pl_dtype *t) {
    int64_t v = pl_attr_int(ctx->node, "dtype", dflt);
    if (!pl_dtype_valid((int)v) || v == PL_DT_STRING || (!any && !pl_dtype_is_float((pl_dtype)v)))
        return pl_err(PL_ERR_UNSUPPORTED, "dtype %lld for a random output", (long long)v);
    *t = (pl_dtype)v;
    return PL_OK;
}

/* Fills y with uniform [low, high) or normal (mean, scale) values. */
static void rand_fill(const pl_kernel_ctx *ctx, pl_tensor *y, bool normal) {
    rng r;
    rng_init(ctx, &r);
    double p0 = pl_attr_float(ctx->node, normal ? "mean" : "low", 0.0f);
    double p1 = pl_attr_float(ctx->node, normal ? "scale" : "high", 1.0f);
    for (int64_t i = 0; i < y->numel; i++) {
        double v = normal ? p0 + p1 * rng_normal(&r) : p0 + (p1 - p0) * rng_uniform(&r);
        pl_set_f64(y, i, v);
    }
}

static pl_status random_shape_op(pl_kernel_ctx *ctx, bool normal) {
    int rank;
    const int64_t *shape = pl_attr_ints(ctx->node, "shape", &rank);
    if (!shape && !pl_node_attr(ctx->node, "shape"))
        return pl_err(PL_ERR_INVALID, "attribute shape is required");
    if (rank > PL_MAX_RANK) return pl_err(PL_ERR_INVALID, "shape has rank %d", rank);
    int64_t numel;
    if (!pl_dims_numel(rank, shape, &numel))
        return pl_err(PL_ERR_INVALID, "attribute shape has a negative or huge dimension");
    pl_dtype dt;
    PL_TRY(rand_dtype(ctx, PL_DT_FLOAT, false, &dt));
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, dt, rank, shape, &y));
    rand_fill(ctx, y, normal);
    return PL_OK;
}

static pl_status random_like_op(pl_kernel_ctx *ctx, bool normal) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    pl_dtype dt;
    PL_TRY(rand_dtype(ctx, x->dtype, false, &dt));
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, dt, x->rank, x->dims, &y));
    rand_fill(ctx, y, normal);
    return PL_OK;
}

static pl_status op_random_uniform(pl_kernel_ctx *ctx) { return random_shape_op(ctx, false); }
static pl_status op_random_normal(pl_kernel_ctx *ctx) { return random_shape_op(ctx, true); }
static pl_status op_random_uniform_like(pl_kernel_ctx *ctx) { return random_like_op(ctx, false); }
static pl_status op_random_normal_like(pl_kernel_ctx *ctx) { return random_like_op(ctx, true); }

/* Bernoulli: y = (uniform < p) with p the input probabilities. */
static pl_status op_bernoulli(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    if (!pl_dtype_is_float(x->dtype))
        return pl_err(PL_ERR_INVALID, "input of dtype %s must be a float type",
                      pl_dtype_name(x->dtype));
    pl_dtype dt;
    PL_TRY(rand_dtype(ctx, x->dtype, true, &dt));
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, dt, x->rank, x->dims, &y));
    rng r;
    rng_init(ctx, &r);
    for (int64_t i = 0; i < x->numel; i++)
        pl_set_f64(y, i, rng_uniform(&r) < pl_get_f64(x, i) ? 1.0 : 0.0);
    return PL_OK;
}

/* Multinomial: sample_size class indices per batch row from unnormalised log-probabilities. */
static pl_status op_multinomial(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    char s[128];
    if (x->rank != 2 || !pl_dtype_is_float(x->dtype))
        return pl_err(PL_ERR_INVALID, "input %s %s must be a float [batch, classes] tensor",
                      pl_dtype_name(x->dtype), pl_dims_str(x->rank, x->dims, s, sizeof s));
    int64_t ns = pl_attr_int(ctx->node, "sample_size", 1);
    int64_t dv = pl_attr_int(ctx->node, "dtype", PL_DT_INT32);
    if (dv != PL_DT_INT32 && dv != PL_DT_INT64)
        return pl_err(PL_ERR_INVALID, "dtype %lld must be int32 or int64", (long long)dv);
    if (ns < 0) return pl_err(PL_ERR_INVALID, "sample_size %lld is negative", (long long)ns);
    int64_t nb = x->dims[0], nc = x->dims[1], dims[2] = {nb, ns}, tot;
    if (!pl_dims_numel(2, dims, &tot)) return pl_err(PL_ERR_INVALID, "output size overflows");
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, (pl_dtype)dv, 2, dims, &y));
    if (tot == 0 || nc == 0) return PL_OK;
    double *cum = malloc((size_t)nc * sizeof *cum);
    if (!cum) return pl_err(PL_ERR_NOMEM, "out of memory");
    rng r;
    rng_init(ctx, &r);
    for (int64_t b = 0; b < nb; b++) {
        double mx = -INFINITY, acc = 0.0;
        for (int64_t c = 0; c < nc; c++) mx = fmax(mx, pl_get_f64(x, b * nc + c));
        for (int64_t c = 0; c < nc; c++) {
            double v = pl_get_f64(x, b * nc + c);
            acc += isfinite(mx) ? exp(v - mx) : 1.0;
            cum[c] = acc;
        }
        for (int64_t k = 0; k < ns; k++) {
            double u = rng_uniform(&r) * acc;
            int64_t c = 0;
            while (c < nc - 1 && cum[c] <= u) c++;
            pl_set_i64(y, b * ns + k, c);
        }
    }
    free(cum);
    return PL_OK;
}

const pl_op_schema pl_ops_misc[] = {
    {"", "NonMaxSuppression", 2, 5, 1, 1, op_nms},
    {"", "Det", 1, 1, 1, 1, op_det},
    {"", "DFT", 1, 3, 1, 1, op_dft},
    {"", "STFT", 2, 4, 1, 1, op_stft},
    {"", "HannWindow", 1, 1, 1, 1, op_hann},
    {"", "HammingWindow", 1, 1, 1, 1, op_hamming},
    {"", "BlackmanWindow", 1, 1, 1, 1, op_blackman},
    {"", "MelWeightMatrix", 5, 5, 1, 1, op_mel_weight_matrix},
    {"", "RandomUniform", 0, 0, 1, 1, op_random_uniform},
    {"", "RandomNormal", 0, 0, 1, 1, op_random_normal},
    {"", "RandomUniformLike", 1, 1, 1, 1, op_random_uniform_like},
    {"", "RandomNormalLike", 1, 1, 1, 1, op_random_normal_like},
    {"", "Bernoulli", 1, 1, 1, 1, op_bernoulli},
    {"", "Multinomial", 1, 1, 1, 1, op_multinomial},
    {0},
};
