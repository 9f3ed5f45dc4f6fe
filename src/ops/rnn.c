/* rnn.c - reference kernels for the recurrent ops RNN, GRU and LSTM (opsets 1..14):
 * forward / reverse / bidirectional, configurable activations (with activation_alpha/beta
 * consumed in order by the functions that take them, as ONNX Runtime does), clip,
 * input_forget (LSTM), linear_before_reset (GRU), optional B, sequence_lens, initial_h,
 * initial_c, peepholes P, and layout (opset 14). Everything is computed in float; other float
 * types are converted on the way in and out. Internally tensors use layout 0:
 * X [seq, batch, input], Y [seq, dirs, batch, hidden], Y_h / Y_c [dirs, batch, hidden]. */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum rnn_kind { KIND_RNN, KIND_GRU, KIND_LSTM } rnn_kind;

typedef enum act_kind {
    ACT_SIGMOID,
    ACT_TANH,
    ACT_RELU,
    ACT_HARDSIGMOID,
    ACT_AFFINE,
    ACT_LEAKYRELU,
    ACT_THRESHOLDEDRELU,
    ACT_SCALEDTANH,
    ACT_ELU,
    ACT_SOFTSIGN,
    ACT_SOFTPLUS
} act_kind;

typedef struct act_fn {
    act_kind kind;
    float alpha, beta;
} act_fn;

/* Name, how many of alpha/beta it takes, and their defaults. */
static const struct {
    const char *name;
    act_kind kind;
    int n_params;
    float alpha, beta;
} act_table[] = {
    {"sigmoid", ACT_SIGMOID, 0, 0, 0},
    {"tanh", ACT_TANH, 0, 0, 0},
    {"relu", ACT_RELU, 0, 0, 0},
    {"hardsigmoid", ACT_HARDSIGMOID, 2, 0.2f, 0.5f},
    {"affine", ACT_AFFINE, 2, 1.0f, 0.0f},
    {"leakyrelu", ACT_LEAKYRELU, 1, 0.01f, 0},
    {"thresholdedrelu", ACT_THRESHOLDEDRELU, 1, 1.0f, 0},
    {"scaledtanh", ACT_SCALEDTANH, 2, 1.0f, 1.0f},
    {"elu", ACT_ELU, 1, 1.0f, 0},
    {"softsign", ACT_SOFTSIGN, 0, 0, 0},
    {"softplus", ACT_SOFTPLUS, 0, 0, 0},
};

typedef struct rnn_cfg {
    rnn_kind kind;
    int gates;   /* 1, 3, 4 */
    int n_act;   /* activations per direction: 1, 2, 3 */
    int dirs;    /* 1 or 2 */
    int reverse; /* direction == "reverse" */
    int layout;
    int64_t seq, batch, input, hidden;
    int has_clip;
    float clip;
    int input_forget, linear_before_reset;
    act_fn act[2][3];
} rnn_cfg;

/* ---- activations ---- */

static inline float act_apply(const act_fn *f, float x) {
    switch (f->kind) {
    case ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case ACT_TANH: return tanhf(x);
    case ACT_RELU: return x > 0 ? x : 0;
    case ACT_HARDSIGMOID: {
        float y = f->alpha * x + f->beta;
        return y < 0 ? 0 : y > 1 ? 1 : y;
    }
    case ACT_AFFINE: return f->alpha * x + f->beta;
    case ACT_LEAKYRELU: return x >= 0 ? x : f->alpha * x;
    case ACT_THRESHOLDEDRELU: return x > f->alpha ? x : 0;
    case ACT_SCALEDTANH: return f->alpha * tanhf(f->beta * x);
    case ACT_ELU: return x >= 0 ? x : f->alpha * (expf(x) - 1.0f);
    case ACT_SOFTSIGN: return x / (1.0f + fabsf(x));
    case ACT_SOFTPLUS: return x > 20.0f ? x : log1pf(expf(x));
    }
    return x;
}

/* Clips (when asked) then applies f to n values in place. */
static void act_vec(const rnn_cfg *c, const act_fn *f, float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float x = v[i];
        if (c->has_clip) x = x < -c->clip ? -c->clip : x > c->clip ? c->clip : x;
        v[i] = act_apply(f, x);
    }
}

/* Reads 'activations', 'activation_alpha' and 'activation_beta' into c->act. */
static pl_status parse_activations(const pl_node *node, rnn_cfg *c) {
    static const act_kind dflt[3][3] = {
        {ACT_TANH}, {ACT_SIGMOID, ACT_TANH}, {ACT_SIGMOID, ACT_TANH, ACT_TANH}};
    const act_kind *d = dflt[c->n_act - 1];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < c->n_act; i++) c->act[k][i] = (act_fn){d[i], 0, 0};
    const pl_attr *a = pl_node_attr(node, "activations");
    if (!a || a->type != PL_ATTR_STRINGS || a->n == 0) return PL_OK;
    int want = c->n_act * c->dirs;
    if (a->n != want && a->n != c->n_act)
        return pl_err(PL_ERR_INVALID, "attribute 'activations' has %d names, needs %d", a->n, want);
    int n_alpha = 0, n_beta = 0, ia = 0, ib = 0;
    const float *alpha = pl_attr_floats(node, "activation_alpha", &n_alpha);
    const float *beta = pl_attr_floats(node, "activation_beta", &n_beta);
    for (int i = 0; i < want; i++) {
        const char *name = a->strings[i % a->n];
        size_t t = 0;
        while (t < sizeof act_table / sizeof act_table[0] && strcasecmp(act_table[t].name, name)) t++;
        if (t == sizeof act_table / sizeof act_table[0])
            return pl_err(PL_ERR_UNSUPPORTED, "attribute 'activations': function '%s' is not supported", name);
        act_fn f = {act_table[t].kind, act_table[t].alpha, act_table[t].beta};
        if (i < a->n && act_table[t].n_params >= 1 && ia < n_alpha) f.alpha = alpha[ia++];
        if (i < a->n && act_table[t].n_params >= 2 && ib < n_beta) f.beta = beta[ib++];
        if (i >= a->n) f = c->act[0][i % c->n_act]; /* one set given for both directions */
        c->act[i / c->n_act][i % c->n_act] = f;
    }
    return PL_OK;
}

/* ---- inputs ---- */

/* Float copy of optional input i (NULL when absent), checking its float dtype. */
static pl_status float_in(const pl_kernel_ctx *ctx, int i, const char *what, pl_tensor **out) {
    *out = NULL;
    const pl_tensor *t = pl_in(ctx, i);
    if (!t) return PL_OK;
    if (t->kind != PL_KIND_TENSOR) return pl_err(PL_ERR_INVALID, "input %d '%s' must be a tensor", i, what);
    if (!pl_dtype_is_float(t->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "input %d '%s' has type %s; RNN ops take float types", i,
                      what, pl_dtype_name(t->dtype));
    return pl_as_float(t, out);
}

static pl_status expect_shape(const pl_tensor *t, const char *what, int rank, const int64_t *dims) {
    int ok = t->rank == rank;
    for (int d = 0; ok && d < rank; d++) ok = t->dims[d] == dims[d];
    if (ok) return PL_OK;
    char got[256], want[256];
    return pl_err(PL_ERR_INVALID, "input '%s' has shape %s, expected %s", what,
                  pl_dims_str(t->rank, t->dims, got, sizeof got), pl_dims_str(rank, dims, want, sizeof want));
}

/* Swaps the first two axes of a rank-3 float tensor in place (layout 1 <-> 0). */
static pl_status swap01(pl_tensor *t) {
    int64_t a = t->dims[0], b = t->dims[1], n = t->dims[2];
    float *src = t->data, *dst = malloc(t->nbytes ? t->nbytes : 1);
    if (!dst) return pl_err(PL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < a; i++)
        for (int64_t j = 0; j < b; j++) memcpy(dst + (j * a + i) * n, src + (i * b + j) * n, (size_t)n * sizeof *dst);
    free(t->data);
    t->data = dst;
    t->dims[0] = b;
    t->dims[1] = a;
    return PL_OK;
}

/* All float inputs of one node, in layout 0. */
typedef struct rnn_inputs {
    pl_tensor *x, *w, *r, *b, *h0, *c0, *p;
    int32_t *lens; /* batch entries, each in 0..seq */
} rnn_inputs;

static void inputs_free(rnn_inputs *in) {
    pl_tensor_destroy(in->x);
    pl_tensor_destroy(in->w);
    pl_tensor_destroy(in->r);
    pl_tensor_destroy(in->b);
    pl_tensor_destroy(in->h0);
    pl_tensor_destroy(in->c0);
    pl_tensor_destroy(in->p);
    free(in->lens);
}

/* Reads the attributes and the direction; fills the sizes from X and R. */
static pl_status parse_config(const pl_kernel_ctx *ctx, rnn_kind kind, rnn_cfg *c) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->gates = kind == KIND_RNN ? 1 : kind == KIND_GRU ? 3 : 4;
    c->n_act = kind == KIND_RNN ? 1 : kind == KIND_GRU ? 2 : 3;
    bool reverse;
    c->dirs = pl_rnn_directions(ctx->node, &reverse);
    c->reverse = reverse;
    if (!c->dirs)
        return pl_err(PL_ERR_INVALID, "attribute 'direction' '%s' must be forward, reverse or bidirectional",
                      pl_attr_string(ctx->node, "direction", "forward"));
    c->layout = (int)pl_attr_int(ctx->node, "layout", 0);
    if (c->layout != 0 && c->layout != 1)
        return pl_err(PL_ERR_INVALID, "attribute 'layout' %d must be 0 or 1", c->layout);
    const pl_attr *clip = pl_node_attr(ctx->node, "clip");
    if (clip) {
        c->has_clip = 1;
        c->clip = clip->f;
        if (!(c->clip >= 0))
            return pl_err(PL_ERR_INVALID, "attribute 'clip' %g must be non-negative", (double)c->clip);
    }
    c->input_forget = pl_attr_int(ctx->node, "input_forget", 0) != 0;
    c->linear_before_reset = pl_attr_int(ctx->node, "linear_before_reset", 0) != 0;
    return parse_activations(ctx->node, c);
}

/* Converts and checks every input against X's sizes. */
static pl_status read_inputs(const pl_kernel_ctx *ctx, rnn_cfg *c, rnn_inputs *in) {
    PL_TRY(float_in(ctx, 0, "X", &in->x));
    PL_TRY(float_in(ctx, 1, "W", &in->w));
    PL_TRY(float_in(ctx, 2, "R", &in->r));
    if (!in->x || !in->w || !in->r) return pl_err(PL_ERR_INVALID, "inputs X, W and R are required");
    if (in->x->rank != 3) return pl_err(PL_ERR_INVALID, "input 'X' must have rank 3, has rank %d", in->x->rank);
    if (c->layout) PL_TRY(swap01(in->x));
    c->seq = in->x->dims[0];
    c->batch = in->x->dims[1];
    c->input = in->x->dims[2];
    int64_t h = pl_attr_int(ctx->node, "hidden_size", in->r->rank == 3 ? in->r->dims[2] : -1);
    if (h <= 0 || h > ((int64_t)1 << 24))
        return pl_err(PL_ERR_INVALID, "attribute 'hidden_size' %lld is missing or out of range", (long long)h);
    c->hidden = h;
    int64_t gh = c->gates * h, d = c->dirs;
    PL_TRY(expect_shape(in->w, "W", 3, (int64_t[]){d, gh, c->input}));
    PL_TRY(expect_shape(in->r, "R", 3, (int64_t[]){d, gh, h}));
    PL_TRY(float_in(ctx, 3, "B", &in->b));
    if (in->b) PL_TRY(expect_shape(in->b, "B", 2, (int64_t[]){d, 2 * gh}));
    PL_TRY(float_in(ctx, 5, "initial_h", &in->h0));
    if (in->h0 && c->layout) {
        PL_TRY(expect_shape(in->h0, "initial_h", 3, (int64_t[]){c->batch, d, h}));
        PL_TRY(swap01(in->h0));
    }
    if (in->h0) PL_TRY(expect_shape(in->h0, "initial_h", 3, (int64_t[]){d, c->batch, h}));
    if (c->kind == KIND_LSTM) {
        PL_TRY(float_in(ctx, 6, "initial_c", &in->c0));
        if (in->c0 && c->layout) {
            PL_TRY(expect_shape(in->c0, "initial_c", 3, (int64_t[]){c->batch, d, h}));
            PL_TRY(swap01(in->c0));
        }
        if (in->c0) PL_TRY(expect_shape(in->c0, "initial_c", 3, (int64_t[]){d, c->batch, h}));
        PL_TRY(float_in(ctx, 7, "P", &in->p));
        if (in->p) PL_TRY(expect_shape(in->p, "P", 2, (int64_t[]){d, 3 * h}));
    }
    in->lens = malloc((size_t)(c->batch ? c->batch : 1) * sizeof *in->lens);
    if (!in->lens) return pl_err(PL_ERR_NOMEM, "out of memory");
    const pl_tensor *sl = pl_in(ctx, 4);
    if (sl && (sl->kind != PL_KIND_TENSOR || !pl_dtype_is_int(sl->dtype) || sl->numel != c->batch))
        return pl_err(PL_ERR_INVALID, "input 'sequence_lens' must hold %lld integers", (long long)c->batch);
    for (int64_t b = 0; b < c->batch; b++) {
        int64_t l = sl ? pl_get_i64(sl, b) : c->seq;
        if (l < 0 || l > c->seq)
            return pl_err(PL_ERR_INVALID, "input 'sequence_lens'[%lld] = %lld is outside 0..%lld",
                          (long long)b, (long long)l, (long long)c->seq);
        in->lens[b] = (int32_t)l;
    }
    return PL_OK;
}

/* ---- the recurrence ---- */

static inline float dot(const float *a, const float *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Per-direction working memory and weights. */
typedef struct rnn_dir {
    const float *w, *r, *wb, *rb, *p; /* wb, rb, p may be NULL */
    float *xw;    /* [seq, batch, gates*hidden]: X W^T + Wb (+ Rb where it adds directly) */
    float *gates; /* [gates*hidden] scratch for one batch entry */
    float *tmp;   /* [hidden] scratch */
} rnn_dir;

/* xw[t, b, j] = X[t, b] . W[j] + Wb[j] (+ Rb[j] except GRU's h gate with linear_before_reset). */
static void input_products(const rnn_cfg *c, const float *x, rnn_dir *d) {
    int64_t gh = c->gates * c->hidden;
    for (int64_t tb = 0; tb < c->seq * c->batch; tb++) {
        const float *xr = x + tb * c->input;
        float *o = d->xw + tb * gh;
        for (int64_t j = 0; j < gh; j++) {
            float s = dot(xr, d->w + j * c->input, c->input);
            if (d->wb) s += d->wb[j];
            int rb_inside = c->kind == KIND_GRU && j >= 2 * c->hidden;
            if (d->rb && !rb_inside) s += d->rb[j];
            o[j] = s;
        }
    }
}

/* One RNN step for batch entry b: h <- f(xw + h R^T). */
static void step_rnn(const rnn_cfg *c, rnn_dir *d, const act_fn *act, const float *xw, float *h) {
    int64_t H = c->hidden;
    for (int64_t j = 0; j < H; j++) d->gates[j] = xw[j] + dot(h, d->r + j * H, H);
    act_vec(c, &act[0], d->gates, H);
    memcpy(h, d->gates, (size_t)H * sizeof *h);
}

/* One GRU step (gates z, r, h). */
static void step_gru(const rnn_cfg *c, rnn_dir *d, const act_fn *act, const float *xw, float *h) {
    int64_t H = c->hidden;
    float *z = d->gates, *r = d->gates + H, *hh = d->gates + 2 * H;
    for (int64_t j = 0; j < 2 * H; j++) d->gates[j] = xw[j] + dot(h, d->r + j * H, H);
    act_vec(c, &act[0], d->gates, 2 * H);
    const float *rh = d->r + 2 * H * H, *rbh = d->rb ? d->rb + 2 * H : NULL;
    if (c->linear_before_reset) {
        for (int64_t j = 0; j < H; j++)
            hh[j] = xw[2 * H + j] + r[j] * (dot(h, rh + j * H, H) + (rbh ? rbh[j] : 0));
    } else {
        for (int64_t j = 0; j < H; j++) d->tmp[j] = r[j] * h[j];
        for (int64_t j = 0; j < H; j++)
            hh[j] = xw[2 * H + j] + dot(d->tmp, rh + j * H, H) + (rbh ? rbh[j] : 0);
    }
    act_vec(c, &act[1], hh, H);
    for (int64_t j = 0; j < H; j++) h[j] = (1.0f - z[j]) * hh[j] + z[j] * h[j];
}

/* One LSTM step (gates i, o, f, c in W's order; peepholes i, o, f). */
static void step_lstm(const rnn_cfg *c, rnn_dir *d, const act_fn *act, const float *xw, float *h,
                      float *cell) {
    int64_t H = c->hidden;
    for (int64_t j = 0; j < 4 * H; j++) d->gates[j] = xw[j] + dot(h, d->r + j * H, H);
    float *gi = d->gates, *go = d->gates + H, *gf = d->gates + 2 * H, *gc = d->gates + 3 * H;
    if (d->p)
        for (int64_t j = 0; j < H; j++) {
            gi[j] += d->p[j] * cell[j];
            gf[j] += d->p[2 * H + j] * cell[j];
        }
    act_vec(c, &act[0], gi, H);
    if (c->input_forget)
        for (int64_t j = 0; j < H; j++) gf[j] = 1.0f - gi[j];
    else
        act_vec(c, &act[0], gf, H);
    act_vec(c, &act[1], gc, H);
    for (int64_t j = 0; j < H; j++) cell[j] = gf[j] * cell[j] + gi[j] * gc[j];
    if (d->p)
        for (int64_t j = 0; j < H; j++) go[j] += d->p[H + j] * cell[j];
    act_vec(c, &act[0], go, H);
    for (int64_t j = 0; j < H; j++) h[j] = go[j] * act_apply(&act[2], cell[j]); /* no clip */
}

/* Runs direction k over every batch entry; writes y ([seq, dirs, batch, H], may be NULL) and
 * the final states into yh / yc ([dirs, batch, H]), which hold the initial states on entry. */
static void run_direction(const rnn_cfg *c, const rnn_inputs *in, rnn_dir *d, int k, float *y,
                          float *yh, float *yc) {
    int64_t H = c->hidden, gh = c->gates * H;
    int rev = c->reverse || k == 1;
    input_products(c, in->x->data, d);
    for (int64_t b = 0; b < c->batch; b++) {
        float *h = yh + (k * c->batch + b) * H, *cell = yc ? yc + (k * c->batch + b) * H : NULL;
        int64_t len = in->lens[b];
        for (int64_t s = 0; s < len; s++) {
            int64_t t = rev ? len - 1 - s : s;
            const float *xw = d->xw + (t * c->batch + b) * gh;
            if (c->kind == KIND_RNN) step_rnn(c, d, c->act[k], xw, h);
            else if (c->kind == KIND_GRU) step_gru(c, d, c->act[k], xw, h);
            else step_lstm(c, d, c->act[k], xw, h, cell);
            if (y) memcpy(y + ((t * c->dirs + k) * c->batch + b) * H, h, (size_t)H * sizeof *h);
        }
    }
}

/* Output i from a float layout-0 tensor: converted to dtype, transposed for layout 1
 * (Y: [seq, dirs, batch, H] -> [batch, seq, dirs, H]; states: [dirs, batch, H] -> [batch, dirs, H]). */
static pl_status emit(pl_kernel_ctx *ctx, const rnn_cfg *c, int i, pl_tensor *f, pl_dtype dtype) {
    if (c->layout) {
        pl_tensor *o;
        int64_t outer = f->dims[0], mid = f->rank == 4 ? f->dims[1] * f->dims[2] : f->dims[1];
        int64_t bdim = f->rank == 4 ? f->dims[2] : f->dims[1], H = c->hidden;
        int64_t dims[4];
        if (f->rank == 4) memcpy(dims, (int64_t[]){bdim, f->dims[0], f->dims[1], H}, sizeof dims);
        else memcpy(dims, (int64_t[]){bdim, f->dims[0], H, 0}, sizeof dims);
        PL_TRY(pl_tensor_alloc(PL_DT_FLOAT, f->rank, dims, &o));
        const float *src = f->data;
        float *dst = o->data;
        int64_t per_b = outer * (mid / bdim); /* rows per batch entry */
        for (int64_t row = 0; row < outer * mid; row++) {
            int64_t b = row % bdim, rest = row / bdim;
            memcpy(dst + (b * per_b + rest) * H, src + row * H, (size_t)H * sizeof *dst);
        }
        pl_tensor_destroy(f);
        f = o;
    }
    if (dtype != PL_DT_FLOAT) {
        pl_tensor *o;
        pl_status st = pl_tensor_cast(f, dtype, &o);
        pl_tensor_destroy(f);
        PL_TRY(st);
        f = o;
    }
    pl_out_set(ctx, i, f);
    return PL_OK;
}

/* Allocates the per-direction scratch and points at direction k's weights. */
static pl_status dir_setup(const rnn_cfg *c, const rnn_inputs *in, int k, rnn_dir *d) {
    int64_t gh = c->gates * c->hidden, n;
    if (!pl_mul_size(c->seq * c->batch, gh, &n) || (uint64_t)n > SIZE_MAX / 8)
        return pl_err(PL_ERR_NOMEM, "input products of %lld x %lld x %lld values are too large",
                      (long long)c->seq, (long long)c->batch, (long long)gh);
    d->w = (const float *)in->w->data + k * gh * c->input;
    d->r = (const float *)in->r->data + k * gh * c->hidden;
    d->wb = in->b ? (const float *)in->b->data + k * 2 * gh : NULL;
    d->rb = in->b ? d->wb + gh : NULL;
    d->p = in->p ? (const float *)in->p->data + k * 3 * c->hidden : NULL;
    d->xw = malloc((size_t)(n ? n : 1) * sizeof *d->xw);
    d->gates = malloc((size_t)gh * sizeof *d->gates);
    d->tmp = malloc((size_t)c->hidden * sizeof *d->tmp);
    if (!d->xw || !d->gates || !d->tmp) return pl_err(PL_ERR_NOMEM, "out of memory");
    return PL_OK;
}

static void dir_free(rnn_dir *d) {
    free(d->xw);
    free(d->gates);
    free(d->tmp);
}

/* Float state tensor [dirs, batch, H]: the initial value or zeros. */
static pl_status state_init(const rnn_cfg *c, const pl_tensor *init, pl_tensor **out) {
    if (init) return pl_tensor_clone(init, out);
    return pl_tensor_create(PL_DT_FLOAT, 3, (int64_t[]){c->dirs, c->batch, c->hidden}, out);
}

static pl_status rnn_run(pl_kernel_ctx *ctx, rnn_kind kind) {
    rnn_cfg c;
    rnn_inputs in = {0};
    pl_tensor *y = NULL, *yh = NULL, *yc = NULL;
    rnn_dir d = {0};
    pl_status st = parse_config(ctx, kind, &c);
    if (st == PL_OK) st = read_inputs(ctx, &c, &in);
    int want_y = ctx->n_out > 0 && ctx->node->out[0] >= 0;
    if (st == PL_OK && want_y)
        st = pl_tensor_create(PL_DT_FLOAT, 4, (int64_t[]){c.seq, c.dirs, c.batch, c.hidden}, &y);
    if (st == PL_OK) st = state_init(&c, in.h0, &yh);
    if (st == PL_OK && kind == KIND_LSTM) st = state_init(&c, in.c0, &yc);
    for (int k = 0; k < c.dirs && st == PL_OK; k++) {
        st = dir_setup(&c, &in, k, &d);
        if (st == PL_OK)
            run_direction(&c, &in, &d, k, y ? y->data : NULL, yh->data, yc ? yc->data : NULL);
        dir_free(&d);
        memset(&d, 0, sizeof d);
    }
    pl_dtype dtype = st == PL_OK ? ctx->in[0]->dtype : PL_DT_FLOAT;
    pl_tensor *res[3] = {y, yh, yc};
    for (int i = 0; i < 3; i++) {
        if (st == PL_OK && i < ctx->n_out && res[i]) {
            st = emit(ctx, &c, i, res[i], dtype);
            res[i] = NULL;
        }
        pl_tensor_destroy(res[i]);
    }
    for (int i = 0; st == PL_OK && i < ctx->n_out; i++) /* unused outputs (Y not asked for) */
        if (!ctx->out[i]) {
            pl_tensor *o;
            st = pl_out(ctx, i, dtype, 0, NULL, &o);
        }
    inputs_free(&in);
    return st;
}

static pl_status op_rnn(pl_kernel_ctx *ctx) { return rnn_run(ctx, KIND_RNN); }
static pl_status op_gru(pl_kernel_ctx *ctx) { return rnn_run(ctx, KIND_GRU); }
static pl_status op_lstm(pl_kernel_ctx *ctx) { return rnn_run(ctx, KIND_LSTM); }

const pl_op_schema pl_ops_rnn[] = {
    {"", "RNN", 3, 6, 0, 2, op_rnn},
    {"", "GRU", 3, 6, 0, 2, op_gru},
    {"", "LSTM", 3, 8, 0, 3, op_lstm},
    {0},
};

int pl_rnn_directions(const pl_node *node, bool *reverse) {
    const char *dir = pl_attr_string(node, "direction", "forward");
    *reverse = !strcmp(dir, "reverse");
    return !strcmp(dir, "forward") || *reverse ? 1 : !strcmp(dir, "bidirectional") ? 2 : 0;
}
