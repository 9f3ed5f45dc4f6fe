/* conv.c - Conv and ConvTranspose for any number of spatial dims. Conv lowers each (image,
 * group) to im2col + pl_sgemm (a 1x1, stride-1, unpadded conv reads the image directly);
 * ConvTranspose runs the transposed GEMM and scatters the columns back (col2im). Computation
 * is in float32; float16, bfloat16 and double inputs are converted and the result rounded
 * back to the input dtype. */
#include "ops.h"
#include "sgemm.h"

#include <stdlib.h>
#include <string.h>

/* Spatial geometry of one convolution: image dims, kernel, output grid and the mapping
 * image_pos = grid_pos * stride - pad_begin + kernel_pos * dilation. */
typedef pl_window conv_geom;

static int64_t prod(int n, const int64_t *v) {
    int64_t p = 1;
    for (int i = 0; i < n; i++) p *= v[i];
    return p;
}

/* Kernel dims from W (dims 2..), checked against the kernel_shape attribute when given. */
static pl_status read_kernel(const pl_node *node, const pl_tensor *w, conv_geom *g) {
    int n = 0;
    const int64_t *ks = pl_attr_ints(node, "kernel_shape", &n);
    for (int i = 0; i < g->nd; i++) g->k[i] = w->dims[2 + i];
    if (!ks) return PL_OK;
    char sw[256];
    if (n != g->nd)
        return pl_err(PL_ERR_INVALID, "attribute 'kernel_shape' has %d values, W %s has %d spatial "
                      "dims", n, pl_dims_str(w->rank, w->dims, sw, sizeof sw), g->nd);
    for (int i = 0; i < n; i++)
        if (ks[i] != g->k[i])
            return pl_err(PL_ERR_INVALID, "attribute 'kernel_shape'[%d] is %lld but W %s has %lld",
                          i, (long long)ks[i], pl_dims_str(w->rank, w->dims, sw, sizeof sw),
                          (long long)g->k[i]);
    return PL_OK;
}

/* Moves data between an image (channels x in) and its column matrix (channels*K rows):
 * gather (im2col) writes col, zero where the image position is padding; scatter (col2im)
 * adds col into the image. The columns are the grid rows [o0, o1) (a grid row is all of the
 * last dim; the others are counted row-major), so col has (o1 - o0) * out[last] columns.
 * Works for any number of spatial dims. */
static void im2col(const conv_geom *g, int64_t channels, float *img, float *col, bool scatter,
                   int64_t o0, int64_t o1) {
    int nd = g->nd, last = nd - 1;
    int64_t kp = prod(nd, g->k), inp = prod(nd, g->in), glast = g->out[last];
    int64_t cols = (o1 - o0) * glast;
    int64_t in_st[PL_MAX_RANK];
    pl_strides(nd, g->in, in_st);
    if (cols == 0) return;
    for (int64_t c = 0; c < channels; c++) {
        float *im = img + c * inp;
        for (int64_t kidx = 0; kidx < kp; kidx++) {
            int64_t koff[PL_MAX_RANK], rem = kidx;
            for (int d = nd - 1; d >= 0; d--) koff[d] = rem % g->k[d], rem /= g->k[d];
            float *row = col + (c * kp + kidx) * cols - o0 * glast;
            /* valid range of the last grid index */
            int64_t off = koff[last] * g->dil[last] - g->pad_b[last], s = g->stride[last];
            int64_t lo = off >= 0 ? 0 : (-off + s - 1) / s;
            int64_t hi = g->in[last] - 1 - off < 0 ? 0 : (g->in[last] - 1 - off) / s + 1;
            if (hi > glast) hi = glast;
            if (lo > hi) lo = hi;
            int64_t gidx[PL_MAX_RANK] = {0}, orem = o0;
            for (int d = last - 1; d >= 0; d--) gidx[d] = orem % g->out[d], orem /= g->out[d];
            for (int64_t o = o0; o < o1; o++) {
                float *r = row + o * glast;
                bool inside = true;
                int64_t base = 0;
                for (int d = 0; d < last; d++) {
                    int64_t ip = gidx[d] * g->stride[d] - g->pad_b[d] + koff[d] * g->dil[d];
                    if (ip < 0 || ip >= g->in[d]) inside = false;
                    base += ip * in_st[d];
                }
                if (!inside) {
                    if (!scatter) memset(r, 0, (size_t)glast * sizeof *r);
                } else if (scatter) {
                    for (int64_t j = lo; j < hi; j++) im[base + j * s + off] += r[j];
                } else {
                    for (int64_t j = 0; j < lo; j++) r[j] = 0.0f;
                    if (s == 1) {
                        const float *src = im + base + off;
                        for (int64_t j = lo; j < hi; j++) r[j] = src[j];
                    } else {
                        for (int64_t j = lo; j < hi; j++) r[j] = im[base + j * s + off];
                    }
                    for (int64_t j = hi; j < glast; j++) r[j] = 0.0f;
                }
                for (int d = last - 1; d >= 0 && ++gidx[d] == g->out[d]; d--) gidx[d] = 0;
            }
        }
    }
}

/* True when the conv is a plain matrix product over the image (1x1, stride 1, no pads). */
static bool conv_is_pointwise(const conv_geom *g) {
    for (int i = 0; i < g->nd; i++)
        if (g->k[i] != 1 || g->stride[i] != 1 || g->pad_b[i] || g->pad_e[i]) return false;
    return true;
}

/* Float32 view of t: its own data or a converted copy in *tmp (caller destroys). */
static pl_status as_f32(const pl_tensor *t, const float **data, pl_tensor **tmp) {
    *tmp = NULL;
    if (t->dtype == PL_DT_FLOAT) {
        *data = t->data;
        return PL_OK;
    }
    PL_TRY(pl_tensor_cast(t, PL_DT_FLOAT, tmp));
    *data = (*tmp)->data;
    return PL_OK;
}

static pl_status check_float_dtype(const pl_tensor *x, const pl_tensor *w, const pl_tensor *b,
                                   const char *op) {
    pl_dtype dt = x->dtype;
    if (dt != PL_DT_FLOAT && dt != PL_DT_FLOAT16 && dt != PL_DT_BFLOAT16 && dt != PL_DT_DOUBLE)
        return pl_err(PL_ERR_UNSUPPORTED, "%s does not support dtype %s", op, pl_dtype_name(dt));
    if (w->dtype != dt || (b && b->dtype != dt))
        return pl_err(PL_ERR_INVALID, "inputs must share one dtype (X %s, W %s%s%s)",
                      pl_dtype_name(dt), pl_dtype_name(w->dtype), b ? ", B " : "",
                      b ? pl_dtype_name(b->dtype) : "");
    return PL_OK;
}

/* The inputs X, W and optional B of Conv/ConvTranspose with the rank checks. */
static pl_status conv_inputs(pl_kernel_ctx *ctx, const char *op, const pl_tensor **x,
                             const pl_tensor **w, const pl_tensor **b) {
    PL_TRY(pl_in_req(ctx, 0, x));
    PL_TRY(pl_in_req(ctx, 1, w));
    *b = pl_in(ctx, 2);
    if (*b && (*b)->kind != PL_KIND_TENSOR) *b = NULL;
    char sx[256], sw[256];
    if ((*x)->rank < 3 || (*w)->rank != (*x)->rank)
        return pl_err(PL_ERR_INVALID, "X %s must have rank >= 3 and W %s the same rank",
                      pl_dims_str((*x)->rank, (*x)->dims, sx, sizeof sx),
                      pl_dims_str((*w)->rank, (*w)->dims, sw, sizeof sw));
    return check_float_dtype(*x, *w, *b, op);
}

/* Check that B is 1-D with `m` values. */
static pl_status check_bias(const pl_tensor *b, int64_t m) {
    if (!b) return PL_OK;
    if (b->rank != 1 || b->dims[0] != m) {
        char sb[256];
        return pl_err(PL_ERR_INVALID, "B %s must be 1-D with %lld values (output channels)",
                      pl_dims_str(b->rank, b->dims, sb, sizeof sb), (long long)m);
    }
    return PL_OK;
}

/* Convert the float result into output 0 of dtype dt (or keep it when float). */
static pl_status finish_output(pl_kernel_ctx *ctx, pl_tensor *yf, pl_dtype dt) {
    if (dt == PL_DT_FLOAT) {
        pl_out_set(ctx, 0, yf);
        return PL_OK;
    }
    pl_tensor *y;
    pl_status st = pl_tensor_cast(yf, dt, &y);
    pl_tensor_destroy(yf);
    if (st != PL_OK) return st;
    pl_out_set(ctx, 0, y);
    return PL_OK;
}

/* Y[n, m, :] = bias[m] for every image and channel. */
static void fill_bias(float *y, const float *bias, int64_t n, int64_t m, int64_t plane) {
    for (int64_t i = 0; i < n * m; i++)
        for (int64_t j = 0; j < plane; j++) y[i * plane + j] = bias ? bias[i % m] : 0.0f;
}

enum { COL_BLOCK_FLOATS = 1 << 18 }; /* target size of an im2col block (1 MiB) */

typedef pl_status (*conv_fn)(const conv_geom *g, int64_t n, int64_t c, int64_t m, int64_t group,
                             const float *x, const float *w, const float *b, float *y);

/* Runs a float kernel for Conv or ConvTranspose: inputs of other types converted to float, the
 * output [n, m, g->out...] rounded back to x's type. ConvTranspose accumulates into a zeroed Y. */
static pl_status run_f32(pl_kernel_ctx *ctx, conv_fn fn, bool zero, const conv_geom *g, int64_t n,
                         int64_t c, int64_t m, int64_t group, const pl_tensor *x,
                         const pl_tensor *w, const pl_tensor *b) {
    int64_t ydims[PL_MAX_RANK] = {n, m};
    memcpy(ydims + 2, g->out, sizeof(int64_t) * (size_t)g->nd);
    pl_tensor *yf, *tx = NULL, *tw = NULL, *tb = NULL;
    if (zero) PL_TRY(pl_tensor_create(PL_DT_FLOAT, x->rank, ydims, &yf));
    else PL_TRY(pl_tensor_alloc(PL_DT_FLOAT, x->rank, ydims, &yf));
    const float *xf, *wf, *bf = NULL;
    pl_status st = as_f32(x, &xf, &tx);
    if (st == PL_OK) st = as_f32(w, &wf, &tw);
    if (st == PL_OK && b) st = as_f32(b, &bf, &tb);
    if (st == PL_OK && yf->numel > 0) st = fn(g, n, c, m, group, xf, wf, bf, yf->data);
    pl_tensor_destroy(tx);
    pl_tensor_destroy(tw);
    pl_tensor_destroy(tb);
    if (st != PL_OK) {
        pl_tensor_destroy(yf);
        return st;
    }
    return finish_output(ctx, yf, x->dtype);
}

/* Runs the float conv: Y[n, group g] = W[g] x im2col(X[n, g]) (+ bias). The columns are
 * built a block of grid rows at a time so the buffer stays in cache. */
static pl_status conv_run(const conv_geom *g, int64_t n, int64_t c, int64_t m, int64_t group,
                          const float *x, const float *w, const float *bias, float *y) {
    int64_t cg = c / group, mg = m / group, kp = prod(g->nd, g->k);
    int64_t inp = prod(g->nd, g->in), outp = prod(g->nd, g->out), kdim = cg * kp, colsize;
    int64_t glast = g->out[g->nd - 1], rows = glast ? outp / glast : 0;
    int64_t block = COL_BLOCK_FLOATS / (kdim * (glast ? glast : 1));
    if (block < 1) block = 1;
    if (block > rows) block = rows;
    bool direct = conv_is_pointwise(g);
    float *col = NULL;
    if (!direct) {
        if (!pl_mul_size(kdim, block * glast, &colsize) || !pl_mul_size(colsize, 4, &colsize))
            return pl_err(PL_ERR_NOMEM, "im2col buffer size overflows");
        col = malloc((size_t)colsize + 4);
        if (!col) return pl_err(PL_ERR_NOMEM, "out of memory for the im2col buffer");
    }
    fill_bias(y, bias, n, m, outp);
    pl_status st = PL_OK;
    for (int64_t i = 0; i < n && st == PL_OK; i++) {
        for (int64_t gi = 0; gi < group && st == PL_OK; gi++) {
            float *img = (float *)x + (i * c + gi * cg) * inp, *yg = y + (i * m + gi * mg) * outp;
            const float *wg = w + gi * mg * kdim;
            if (direct) {
                st = pl_sgemm(false, false, mg, outp, kdim, 1.0f, wg, kdim, img, outp, 1.0f, yg, outp);
                continue;
            }
            for (int64_t r0 = 0; r0 < rows && st == PL_OK; r0 += block) {
                int64_t r1 = r0 + block < rows ? r0 + block : rows, cols = (r1 - r0) * glast;
                im2col(g, cg, img, col, false, r0, r1);
                st = pl_sgemm(false, false, mg, cols, kdim, 1.0f, wg, kdim, col, cols, 1.0f,
                              yg + r0 * glast, outp);
            }
        }
    }
    free(col);
    return st;
}

/* Conv: N-D grouped convolution with auto_pad, pads, strides, dilations and optional bias. */
static pl_status op_conv(pl_kernel_ctx *ctx) {
    const pl_tensor *x, *w, *b;
    PL_TRY(conv_inputs(ctx, "Conv", &x, &w, &b));
    conv_geom g = {.nd = x->rank - 2};
    int64_t group = pl_attr_int(ctx->node, "group", 1);
    int64_t n = x->dims[0], c = x->dims[1], m = w->dims[0];
    char sx[256], sw[256];
    pl_dims_str(x->rank, x->dims, sx, sizeof sx);
    pl_dims_str(w->rank, w->dims, sw, sizeof sw);
    if (group < 1) return pl_err(PL_ERR_INVALID, "attribute 'group' is %lld, must be >= 1", (long long)group);
    if (w->dims[1] * group != c)
        return pl_err(PL_ERR_INVALID, "X %s has %lld channels but W %s dim 1 (%lld) x group %lld "
                      "= %lld", sx, (long long)c, sw, (long long)w->dims[1], (long long)group,
                      (long long)(w->dims[1] * group));
    if (m % group)
        return pl_err(PL_ERR_INVALID, "W %s has %lld output channels, not a multiple of group %lld",
                      sw, (long long)m, (long long)group);
    PL_TRY(check_bias(b, m));
    for (int i = 0; i < g.nd; i++) g.in[i] = x->dims[2 + i];
    PL_TRY(read_kernel(ctx->node, w, &g));
    PL_TRY(pl_window_read_attrs(ctx->node, &g));
    PL_TRY(pl_window_output(ctx->node, &g, false));
    return run_f32(ctx, conv_run, false, &g, n, c, m, group, x, w, b);
}

/* ---- ConvTranspose ---- */

/* Output dims and pads of a ConvTranspose from output_shape, output_padding and auto_pad.
 * Here g->in is X's grid and g->out the output image. */
static pl_status convt_output(const pl_node *node, conv_geom *g) {
    const char *ap = pl_attr_string(node, "auto_pad", "NOTSET");
    bool same_upper = !strcmp(ap, "SAME_UPPER"), same_lower = !strcmp(ap, "SAME_LOWER");
    bool valid = !strcmp(ap, "VALID");
    if (!same_upper && !same_lower && !valid && strcmp(ap, "NOTSET") && ap[0])
        return pl_err(PL_ERR_INVALID, "attribute 'auto_pad' has unknown value '%s'", ap);
    int64_t opad[PL_MAX_RANK];
    PL_TRY(pl_attr_ints_exact(node, "output_padding", g->nd, 0, 0, opad));
    int n_os = 0;
    const int64_t *os = pl_attr_ints(node, "output_shape", &n_os);
    if (os && n_os != g->nd && n_os != g->nd + 2)
        return pl_err(PL_ERR_INVALID, "attribute 'output_shape' has %d values, expected %d", n_os,
                      g->nd);
    if (os && n_os == g->nd + 2) os += 2;
    for (int i = 0; i < g->nd; i++) {
        int64_t ek = (g->k[i] - 1) * g->dil[i] + 1, s = g->stride[i];
        int64_t full = s * (g->in[i] - 1) + opad[i] + ek;
        if (opad[i] >= s && opad[i] >= g->dil[i])
            return pl_err(PL_ERR_INVALID, "attribute 'output_padding'[%d] = %lld must be smaller "
                          "than the stride or dilation", i, (long long)opad[i]);
        if (os || same_upper || same_lower) {
            int64_t target = os ? os[i] : g->in[i] * s;
            int64_t total = full - target;
            if (total < 0) total = 0; /* the extra output stays zero (bias only) */
            g->pad_b[i] = same_upper ? total / 2 : total - total / 2;
            g->pad_e[i] = total - g->pad_b[i];
            g->out[i] = target;
        } else {
            if (valid) g->pad_b[i] = g->pad_e[i] = 0;
            g->out[i] = full - g->pad_b[i] - g->pad_e[i];
        }
        if (g->out[i] < 0)
            return pl_err(PL_ERR_INVALID, "spatial dim %d: output size %lld is negative", i,
                          (long long)g->out[i]);
    }
    return PL_OK;
}

/* Runs the float transposed conv: col = W[g]^T x X[n, g], scattered into Y (+ bias). */
static pl_status convt_run(const conv_geom *g, int64_t n, int64_t c, int64_t m, int64_t group,
                           const float *x, const float *w, const float *bias, float *y) {
    int64_t cg = c / group, mg = m / group, kp = prod(g->nd, g->k);
    int64_t inp = prod(g->nd, g->in), outp = prod(g->nd, g->out), rows = mg * kp, colsize;
    if (!pl_mul_size(rows, inp, &colsize) || !pl_mul_size(colsize, 4, &colsize))
        return pl_err(PL_ERR_NOMEM, "col2im buffer size overflows");
    float *col = malloc((size_t)colsize + 4);
    if (!col) return pl_err(PL_ERR_NOMEM, "out of memory for the col2im buffer");
    /* the scatter maps a grid over X (g->in) into the image Y (g->out) */
    conv_geom sg = *g;
    memcpy(sg.in, g->out, sizeof sg.in);
    memcpy(sg.out, g->in, sizeof sg.out);
    fill_bias(y, bias, n, m, outp);
    pl_status st = PL_OK;
    for (int64_t i = 0; i < n && st == PL_OK; i++) {
        for (int64_t gi = 0; gi < group && st == PL_OK; gi++) {
            st = pl_sgemm(true, false, rows, inp, cg, 1.0f, w + gi * cg * rows, rows,
                          x + (i * c + gi * cg) * inp, inp, 0.0f, col, inp);
            if (st == PL_OK)
                im2col(&sg, mg, y + (i * m + gi * mg) * outp, col, true, 0,
                       inp / (g->in[g->nd - 1] ? g->in[g->nd - 1] : 1));
        }
    }
    free(col);
    return st;
}

/* ConvTranspose: N-D grouped transposed convolution. */
static pl_status op_convtranspose(pl_kernel_ctx *ctx) {
    const pl_tensor *x, *w, *b;
    PL_TRY(conv_inputs(ctx, "ConvTranspose", &x, &w, &b));
    conv_geom g = {.nd = x->rank - 2};
    int64_t group = pl_attr_int(ctx->node, "group", 1);
    int64_t n = x->dims[0], c = x->dims[1];
    char sx[256], sw[256];
    pl_dims_str(x->rank, x->dims, sx, sizeof sx);
    pl_dims_str(w->rank, w->dims, sw, sizeof sw);
    if (group < 1) return pl_err(PL_ERR_INVALID, "attribute 'group' is %lld, must be >= 1", (long long)group);
    if (w->dims[0] != c)
        return pl_err(PL_ERR_INVALID, "X %s has %lld channels but W %s dim 0 is %lld", sx,
                      (long long)c, sw, (long long)w->dims[0]);
    if (c % group)
        return pl_err(PL_ERR_INVALID, "X %s has %lld channels, not a multiple of group %lld", sx,
                      (long long)c, (long long)group);
    int64_t m = w->dims[1] * group;
    PL_TRY(check_bias(b, m));
    for (int i = 0; i < g.nd; i++) g.in[i] = x->dims[2 + i];
    PL_TRY(read_kernel(ctx->node, w, &g));
    PL_TRY(pl_window_read_attrs(ctx->node, &g));
    PL_TRY(convt_output(ctx->node, &g));
    return run_f32(ctx, convt_run, true, &g, n, c, m, group, x, w, b);
}

const pl_op_schema pl_ops_conv[] = {
    {"", "Conv", 2, 3, 1, 1, op_conv},
    {"", "ConvTranspose", 2, 3, 1, 1, op_convtranspose},
    {0},
};
