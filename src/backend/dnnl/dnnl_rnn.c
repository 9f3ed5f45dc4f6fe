/* dnnl_rnn.c - ONNX LSTM, GRU and RNN on oneDNN's RNN primitives (one layer, forward /
 * reverse / bidirectional, layout 0 or 1, initial_h / initial_c, LSTM peepholes, GRU with or
 * without linear_before_reset, RNN with Tanh, Relu or Sigmoid).
 *
 * Constant W, R, B (and P) are packed once per primitive: ONNX's gate order (LSTM iofc, GRU
 * zrh, peepholes iof) is permuted into oneDNN's (LSTM ifco, GRU u=z r o=h, peepholes ifo),
 * the two ONNX biases are summed (LBR GRU keeps Rb_h as its fourth bias gate), and the result
 * is reordered into the layout the primitive chose. Y of a bidirectional layout-0 node and the
 * states of a layout-1 node are copied between oneDNN's and ONNX's orders; everything else is
 * read and written in place. Clip, other activations, input_forget, non-constant weights and
 * non-float types are declined; sequence_lens other than all T run on the reference. */
#include "dnnl_util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum rnn_kind { KIND_RNN, KIND_GRU, KIND_LSTM } rnn_kind;

static rnn_kind kind_of(const pl_xnode *xn) {
    return !strcmp(xn->op, "LSTM") ? KIND_LSTM : !strcmp(xn->op, "GRU") ? KIND_GRU : KIND_RNN;
}

/* oneDNN's vanilla RNN activation for an RNN node (the same function in every direction), or
 * dnnl_alg_kind_undef. LSTM and GRU must have the default functions (dnnl_eltwise_tanh). */
static dnnl_alg_kind_t activation_of(const pl_node *node, rnn_kind kind, int dirs) {
    static const char *const dflt[3][3] = {{"tanh"}, {"sigmoid", "tanh"}, {"sigmoid", "tanh", "tanh"}};
    int n_act = kind == KIND_RNN ? 1 : kind == KIND_GRU ? 2 : 3;
    const pl_attr *a = pl_node_attr(node, "activations");
    if (!a || a->n == 0) return dnnl_eltwise_tanh;
    if (a->type != PL_ATTR_STRINGS || (a->n != n_act && a->n != n_act * dirs)) return dnnl_alg_kind_undef;
    if (kind == KIND_RNN) {
        for (int i = 1; i < a->n; i++)
            if (strcasecmp(a->strings[i], a->strings[0])) return dnnl_alg_kind_undef;
        return !strcasecmp(a->strings[0], "tanh")      ? dnnl_eltwise_tanh
               : !strcasecmp(a->strings[0], "relu")    ? dnnl_eltwise_relu
               : !strcasecmp(a->strings[0], "sigmoid") ? dnnl_eltwise_logistic
                                                     : dnnl_alg_kind_undef;
    }
    for (int i = 0; i < a->n; i++)
        if (strcasecmp(a->strings[i], dflt[n_act - 1][i % n_act])) return dnnl_alg_kind_undef;
    return dnnl_eltwise_tanh;
}

static bool is_float_const(const pl_xgraph *xg, const pl_xnode *xn, int i) {
    int v = i < xn->n_in ? xn->in[i] : -1;
    return v >= 0 && xg->consts[v] && xg->consts[v]->dtype == PL_DT_FLOAT;
}

static bool absent_or_float_const(const pl_xgraph *xg, const pl_xnode *xn, int i) {
    return i >= xn->n_in || xn->in[i] < 0 || is_float_const(xg, xn, i);
}

static bool rnn_accepts(const pl_xgraph *xg, const pl_xnode *xn) {
    if (xn->node->domain[0] || xn->n_post || xn->n_in < 3) return false;
    if (strcmp(xn->op, "LSTM") && strcmp(xn->op, "GRU") && strcmp(xn->op, "RNN")) return false;
    rnn_kind kind = kind_of(xn);
    if (xn->n_in > (kind == KIND_LSTM ? 8 : 6) || xn->n_out > (kind == KIND_LSTM ? 3 : 2)) return false;
    bool rev;
    int dirs = pl_rnn_directions(xn->node, &rev);
    int64_t layout = pl_attr_int(xn->node, "layout", 0);
    if (!dirs || (layout != 0 && layout != 1) || pl_node_attr(xn->node, "clip")) return false;
    if (pl_attr_int(xn->node, "input_forget", 0)) return false;
    if (activation_of(xn->node, kind, dirs) == dnnl_alg_kind_undef) return false;
    if (!is_float_const(xg, xn, 1) || !is_float_const(xg, xn, 2) || !absent_or_float_const(xg, xn, 3)) return false;
    return kind != KIND_LSTM || absent_or_float_const(xg, xn, 7);
}

/* ---- geometry of one run ---- */

typedef struct rnn_geom {
    rnn_kind kind;
    int gates;  /* oneDNN weight gates: 1, 3, 4 */
    int bgates; /* bias gates: gates, or 4 for LBR GRU */
    int dirs, layout;
    bool reverse, lbr, peephole;
    int64_t T, N, I, H;
} rnn_geom;

typedef struct rnn_in {
    const pl_tensor *x, *w, *r, *b, *lens, *h0, *c0, *p;
} rnn_in;

static bool dims_are(const pl_tensor *t, int rank, const int64_t *dims) {
    if (t->rank != rank) return false;
    for (int d = 0; d < rank; d++)
        if (t->dims[d] != dims[d]) return false;
    return true;
}

static bool all_zero(const pl_tensor *t) {
    const float *f = t->data;
    for (int64_t i = 0; i < t->numel; i++)
        if (f[i] != 0.0f) return false;
    return true;
}

/* Fills g from the inputs; false when oneDNN cannot run them (the reference then runs the node
 * and reports whatever is wrong). */
static bool geometry(const pl_xnode *xn, const rnn_in *in, rnn_geom *g) {
    memset(g, 0, sizeof *g);
    g->kind = kind_of(xn);
    g->gates = g->kind == KIND_RNN ? 1 : g->kind == KIND_GRU ? 3 : 4;
    g->dirs = pl_rnn_directions(xn->node, &g->reverse);
    g->layout = (int)pl_attr_int(xn->node, "layout", 0);
    g->lbr = g->kind == KIND_GRU && pl_attr_int(xn->node, "linear_before_reset", 0) != 0;
    g->bgates = g->lbr ? 4 : g->gates;
    const pl_tensor *x = in->x;
    if (!x || !in->w || !in->r || x->dtype != PL_DT_FLOAT || x->rank != 3 || in->r->rank != 3) return false;
    g->T = x->dims[g->layout ? 1 : 0];
    g->N = x->dims[g->layout ? 0 : 1];
    g->I = x->dims[2];
    g->H = in->r->dims[2];
    if (g->T <= 0 || g->N <= 0 || g->I <= 0 || g->H <= 0) return false;
    if (pl_attr_int(xn->node, "hidden_size", g->H) != g->H) return false;
    int64_t D = g->dirs, GH = g->gates * g->H;
    if (!dims_are(in->w, 3, (int64_t[]){D, GH, g->I}) || !dims_are(in->r, 3, (int64_t[]){D, GH, g->H})) return false;
    if (in->b && !dims_are(in->b, 2, (int64_t[]){D, 2 * GH})) return false;
    const int64_t *sd = g->layout ? (int64_t[]){g->N, D, g->H} : (int64_t[]){D, g->N, g->H};
    const pl_tensor *st[2] = {in->h0, in->c0};
    for (int i = 0; i < 2; i++)
        if (st[i] && (st[i]->dtype != PL_DT_FLOAT || !dims_are(st[i], 3, sd))) return false;
    if (in->p) {
        if (!dims_are(in->p, 2, (int64_t[]){D, 3 * g->H})) return false;
        g->peephole = !all_zero(in->p);
    }
    if (in->lens) {
        if (!pl_dtype_is_int(in->lens->dtype) || in->lens->numel != g->N) return false;
        for (int64_t b = 0; b < g->N; b++)
            if (pl_get_i64(in->lens, b) != g->T) return false;
    }
    return true;
}

/* ---- the primitive and its packed weights ---- */

enum { MD_SRC, MD_SRC_ITER, MD_SRC_ITER_C, MD_WL, MD_WI, MD_WP, MD_BIAS, MD_DST, MD_DST_ITER, MD_DST_ITER_C, MD_COUNT };

/* Head of pl_dnnl_prim.weights (one allocation, owned by the prim): the descriptors the
 * primitive was made with, then the packed weights at the offsets. */
typedef struct rnn_pack {
    dnnl_memory_desc_t md[MD_COUNT];
    bool has[MD_COUNT];
    size_t off_wl, off_wi, off_wp, off_bias;
} rnn_pack;

static size_t align64(size_t n) { return (n + 63) / 64 * 64; }

/* ONNX gate of each oneDNN gate. */
static const int *gate_order(rnn_kind kind) {
    static const int lstm[4] = {0, 2, 3, 1}, other[3] = {0, 1, 2};
    return kind == KIND_LSTM ? lstm : other;
}

static pl_status md_tag(dnnl_memory_desc_t *md, int rank, const int64_t *dims, dnnl_format_tag_t tag) {
    dnnl_dims_t d;
    for (int i = 0; i < rank; i++) d[i] = dims[i];
    PL_DNNL(dnnl_memory_desc_init_by_tag(md, rank, d, dnnl_f32, tag), "RNN memory descriptor");
    return PL_OK;
}

static pl_status md_strides(dnnl_memory_desc_t *md, const int64_t *dims, const int64_t *strides) {
    dnnl_dims_t d, s;
    for (int i = 0; i < 3; i++) d[i] = dims[i], s[i] = strides[i];
    PL_DNNL(dnnl_memory_desc_init_by_strides(md, 3, d, dnnl_f32, s), "RNN memory descriptor");
    return PL_OK;
}

/* The descriptors of every argument; weights in any layout. */
static pl_status make_mds(const rnn_geom *g, const rnn_in *in, bool want_iter, rnn_pack *k) {
    int64_t D = g->dirs, T = g->T, N = g->N, H = g->H, I = g->I;
    if (g->layout) {
        PL_TRY(md_strides(&k->md[MD_SRC], (int64_t[]){T, N, I}, (int64_t[]){I, T * I, 1}));
        PL_TRY(md_strides(&k->md[MD_DST], (int64_t[]){T, N, D * H}, (int64_t[]){D * H, T * D * H, 1}));
    } else {
        PL_TRY(md_tag(&k->md[MD_SRC], 3, (int64_t[]){T, N, I}, dnnl_tnc));
        PL_TRY(md_tag(&k->md[MD_DST], 3, (int64_t[]){T, N, D * H}, dnnl_tnc));
    }
    k->has[MD_SRC] = k->has[MD_DST] = k->has[MD_WL] = k->has[MD_WI] = k->has[MD_BIAS] = true;
    int64_t ldnc[4] = {1, D, N, H};
    k->has[MD_SRC_ITER] = in->h0 || in->c0;
    k->has[MD_SRC_ITER_C] = g->kind == KIND_LSTM && k->has[MD_SRC_ITER];
    k->has[MD_DST_ITER] = want_iter;
    k->has[MD_DST_ITER_C] = g->kind == KIND_LSTM && want_iter;
    static const int states[4] = {MD_SRC_ITER, MD_SRC_ITER_C, MD_DST_ITER, MD_DST_ITER_C};
    for (int i = 0; i < 4; i++)
        if (k->has[states[i]]) PL_TRY(md_tag(&k->md[states[i]], 4, ldnc, dnnl_ldnc));
    PL_TRY(md_tag(&k->md[MD_WL], 5, (int64_t[]){1, D, I, g->gates, H}, dnnl_format_tag_any));
    PL_TRY(md_tag(&k->md[MD_WI], 5, (int64_t[]){1, D, H, g->gates, H}, dnnl_format_tag_any));
    PL_TRY(md_tag(&k->md[MD_BIAS], 4, (int64_t[]){1, D, g->bgates, H}, dnnl_ldgo));
    k->has[MD_WP] = g->peephole;
    if (g->peephole) PL_TRY(md_tag(&k->md[MD_WP], 4, (int64_t[]){1, D, 3, H}, dnnl_ldgo));
    return PL_OK;
}

static const dnnl_memory_desc_t *md_or_null(const rnn_pack *k, int m) { return k->has[m] ? &k->md[m] : NULL; }

static pl_status init_desc(const pl_xnode *xn, const rnn_geom *g, const rnn_pack *k, dnnl_rnn_desc_t *d) {
    dnnl_rnn_direction_t dir = g->dirs == 2 ? dnnl_bidirectional_concat
                               : g->reverse ? dnnl_unidirectional_right2left
                                            : dnnl_unidirectional_left2right;
    const dnnl_prop_kind_t prop = dnnl_forward_inference;
    dnnl_status_t s;
    if (g->kind == KIND_LSTM)
        s = dnnl_lstm_forward_desc_init_v2(d, prop, dir, &k->md[MD_SRC], md_or_null(k, MD_SRC_ITER), md_or_null(k, MD_SRC_ITER_C),
                                           &k->md[MD_WL], &k->md[MD_WI], md_or_null(k, MD_WP), &k->md[MD_BIAS], &k->md[MD_DST],
                                           md_or_null(k, MD_DST_ITER), md_or_null(k, MD_DST_ITER_C), 0);
    else if (g->kind == KIND_GRU)
        s = (g->lbr ? dnnl_lbr_gru_forward_desc_init : dnnl_gru_forward_desc_init)(
            d, prop, dir, &k->md[MD_SRC], md_or_null(k, MD_SRC_ITER), &k->md[MD_WL], &k->md[MD_WI], &k->md[MD_BIAS],
            &k->md[MD_DST], md_or_null(k, MD_DST_ITER), 0);
    else
        s = dnnl_vanilla_rnn_forward_desc_init(d, prop, activation_of(xn->node, KIND_RNN, g->dirs), dir, &k->md[MD_SRC],
                                               md_or_null(k, MD_SRC_ITER), &k->md[MD_WL], &k->md[MD_WI], &k->md[MD_BIAS],
                                               &k->md[MD_DST], md_or_null(k, MD_DST_ITER), 0, 0.0f, 0.0f);
    PL_DNNL(s, "RNN descriptor");
    return PL_OK;
}

/* ONNX W or R [D, G*H, K] (gates in ONNX order) as oneDNN's ldgoi [1, D, G, H, K] (gates in
 * oneDNN order), the layout reorders read it from. */
static void permute_gates(const rnn_geom *g, const float *src, int64_t K, float *dst) {
    const int *order = gate_order(g->kind);
    size_t block = (size_t)(g->H * K);
    for (int d = 0; d < g->dirs; d++)
        for (int q = 0; q < g->gates; q++)
            memcpy(dst + ((size_t)d * (size_t)g->gates + (size_t)q) * block,
                   src + ((size_t)d * (size_t)g->gates + (size_t)order[q]) * block, block * sizeof *dst);
}

/* oneDNN's bias [1, D, bgates, H]: Wb + Rb per gate; LBR GRU's h gate keeps Wb_h and Rb_h
 * apart (gates 2 and 3). */
static void pack_bias(const rnn_geom *g, const pl_tensor *b, float *dst) {
    const int *order = gate_order(g->kind);
    int64_t H = g->H, GH = g->gates * H;
    memset(dst, 0, (size_t)(g->dirs * g->bgates * H) * sizeof *dst);
    if (!b) return;
    for (int d = 0; d < g->dirs; d++) {
        const float *wb = (const float *)b->data + d * 2 * GH, *rb = wb + GH;
        float *o = dst + d * g->bgates * H;
        for (int q = 0; q < g->gates; q++) {
            const float *w = wb + order[q] * H, *r = rb + order[q] * H;
            bool apart = g->lbr && q == 2;
            for (int64_t j = 0; j < H; j++) o[q * H + j] = w[j] + (apart ? 0.0f : r[j]);
            if (apart) memcpy(o + 3 * H, r, (size_t)H * sizeof *o);
        }
    }
}

/* ONNX P [D, 3H] (i, o, f) as oneDNN's [1, D, 3, H] (i, f, o). */
static void pack_peephole(const rnn_geom *g, const pl_tensor *p, float *dst) {
    static const int order[3] = {0, 2, 1};
    int64_t H = g->H;
    for (int d = 0; d < g->dirs; d++)
        for (int q = 0; q < 3; q++)
            memcpy(dst + (d * 3 + q) * H, (const float *)p->data + (d * 3 + order[q]) * H, (size_t)H * sizeof *dst);
}

/* Reorders ONNX weights [D, G*H, K] into the primitive's layout md at dst. */
static pl_status pack_weights(pl_xrun *r, const rnn_geom *g, const pl_tensor *w, int64_t K,
                              const dnnl_memory_desc_t *md, void *dst) {
    float *tmp = malloc(w->nbytes);
    if (!tmp) return pl_err(PL_ERR_NOMEM, "out of memory");
    permute_gates(g, w->data, K, tmp);
    dnnl_memory_desc_t smd;
    pl_status st = md_tag(&smd, 5, (int64_t[]){1, g->dirs, K, g->gates, g->H}, dnnl_ldgoi);
    if (st == PL_OK) st = pl_dnnl_reorder(r, &smd, tmp, md, dst);
    free(tmp);
    return st;
}

static pl_status make_prim(pl_xrun *r, pl_xnode *xn, const rnn_geom *g, const rnn_in *in, bool want_iter,
                           const int64_t *key, int key_len, pl_dnnl_prim **out) {
    pl_dnnl_prim *p = calloc(1, sizeof *p);
    if (!p) return pl_err(PL_ERR_NOMEM, "out of memory");
    p->key_len = key_len;
    memcpy(p->key, key, (size_t)key_len * sizeof *key);
    p->sum_value = -1;
    rnn_pack k;
    memset(&k, 0, sizeof k);
    dnnl_rnn_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    pl_status st = make_mds(g, in, want_iter, &k);
    if (st == PL_OK) st = init_desc(xn, g, &k, &desc);
    if (st == PL_OK) st = pl_dnnl_check(dnnl_primitive_attr_create(&attr), "attributes");
    if (st == PL_OK) st = pl_dnnl_check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode");
    if (st == PL_OK) st = pl_dnnl_check(dnnl_primitive_desc_create(&pd, &desc, attr, pl_dnnl_engine(), NULL), "RNN");
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (st == PL_OK) {
        k.md[MD_WL] = *dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, DNNL_ARG_WEIGHTS_LAYER);
        k.md[MD_WI] = *dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, DNNL_ARG_WEIGHTS_ITER);
        p->scratch_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        st = pl_dnnl_check(dnnl_primitive_create(&p->prim, pd), "RNN primitive");
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (st == PL_OK) {
        k.off_wl = align64(sizeof k);
        k.off_wi = k.off_wl + align64(dnnl_memory_desc_get_size(&k.md[MD_WL]));
        k.off_bias = k.off_wi + align64(dnnl_memory_desc_get_size(&k.md[MD_WI]));
        k.off_wp = k.off_bias + align64(dnnl_memory_desc_get_size(&k.md[MD_BIAS]));
        size_t total = k.off_wp + align64(g->peephole ? dnnl_memory_desc_get_size(&k.md[MD_WP]) : 0);
        p->weights = aligned_alloc(64, total);
        if (!p->weights) st = pl_err(PL_ERR_NOMEM, "cannot allocate %zu bytes of packed RNN weights", total);
    }
    if (st == PL_OK) {
        char *base = p->weights;
        memcpy(base, &k, sizeof k);
        st = pack_weights(r, g, in->w, g->I, &k.md[MD_WL], base + k.off_wl);
        if (st == PL_OK) st = pack_weights(r, g, in->r, g->H, &k.md[MD_WI], base + k.off_wi);
        pack_bias(g, in->b, (float *)(base + k.off_bias));
        if (g->peephole) pack_peephole(g, in->p, (float *)(base + k.off_wp));
    }
    if (st != PL_OK) {
        pl_dnnl_prim_free(p);
        return st;
    }
    pl_dnnl_add(xn, p, out);
    return PL_OK;
}

/* ---- running ---- */

/* [a, b, H] -> [b, a, H]. */
static void swap01(const float *src, int64_t a, int64_t b, int64_t H, float *dst) {
    for (int64_t i = 0; i < a; i++)
        for (int64_t j = 0; j < b; j++) memcpy(dst + (j * a + i) * H, src + (i * b + j) * H, (size_t)H * sizeof *dst);
}

static bool wanted(const pl_xrun *r, const pl_xnode *xn, int i) {
    return i < xn->n_out && xn->out[i] >= 0 && pl_xgraph_readers(pl_xrun_graph(r), xn->out[i]) > 0;
}

static pl_status rnn_run(pl_xrun *r, pl_xnode *xn) {
    rnn_in in;
    const pl_tensor **slot[8] = {&in.x, &in.w, &in.r, &in.b, &in.lens, &in.h0, &in.c0, &in.p};
    for (int i = 0; i < 8; i++) PL_TRY(pl_xrun_in(r, xn, i, slot[i]));
    rnn_geom g;
    if (!geometry(xn, &in, &g)) return pl_tactic_reference.run(r, xn);
    bool want_y = wanted(r, xn, 0), want_st[2] = {wanted(r, xn, 1), g.kind == KIND_LSTM && wanted(r, xn, 2)};
    bool want_iter = want_st[0] || want_st[1], has_src_iter = in.h0 || in.c0;
    int64_t key[64];
    int key_len;
    PL_TRY(pl_dnnl_key(r, xn, key, &key_len));
    if (key_len >= 64) return pl_tactic_reference.run(r, xn);
    key[key_len++] = want_iter; /* the primitive writes the final states or not */

    /* scratch: four states [D, N, H] (initial h, c; final h, c) and, unless oneDNN writes Y
     * in place, one [T, N, D*H] */
    int64_t D = g.dirs, T = g.T, N = g.N, H = g.H, DNH = D * N * H;
    bool y_direct = want_y && (g.layout || D == 1);
    size_t state_bytes = align64((size_t)DNH * sizeof(float));
    size_t bytes = 4 * state_bytes + (y_direct ? 0 : align64((size_t)(T * DNH) * sizeof(float)));
    char *scratch = pl_xrun_scratch(r, 1, bytes);
    if (!scratch) return pl_err(PL_ERR_NOMEM, "cannot allocate %zu bytes of RNN scratch", bytes);
    float *state[4];
    for (int i = 0; i < 4; i++) state[i] = (float *)(scratch + (size_t)i * state_bytes);
    float *ytmp = (float *)(scratch + 4 * state_bytes);
    /* initial states: in place (layout 0), transposed (layout 1), or zeros */
    const pl_tensor *init[2] = {in.h0, in.c0};
    void *src_iter[2] = {NULL, NULL};
    for (int i = 0; i < (g.kind == KIND_LSTM ? 2 : 1) && has_src_iter; i++) {
        if (!init[i]) memset(state[i], 0, (size_t)DNH * sizeof(float));
        else if (g.layout) swap01(init[i]->data, N, D, H, state[i]);
        src_iter[i] = !init[i] || g.layout ? state[i] : init[i]->data;
    }
    /* outputs: written in place where ONNX's layout is oneDNN's */
    pl_tensor *y = NULL, *yst[2] = {NULL, NULL};
    if (want_y) {
        int64_t dims[4] = {T, D, N, H}, dims1[4] = {N, T, D, H};
        PL_TRY(pl_xrun_out(r, xn, 0, PL_DT_FLOAT, 4, g.layout ? dims1 : dims, &y));
    }
    void *dst_iter[2] = {NULL, NULL};
    for (int i = 0; i < (g.kind == KIND_LSTM ? 2 : 1) && want_iter; i++) {
        if (want_st[i]) {
            int64_t dims[3] = {D, N, H}, dims1[3] = {N, D, H};
            PL_TRY(pl_xrun_out(r, xn, 1 + i, PL_DT_FLOAT, 3, g.layout ? dims1 : dims, &yst[i]));
        }
        dst_iter[i] = want_st[i] && !g.layout ? yst[i]->data : state[2 + i];
    }
    void *dst = y_direct ? y->data : ytmp;

    pl_dnnl_prim *p = pl_dnnl_find(xn, key, key_len, NULL);
    if (!p) {
        pl_status st = make_prim(r, xn, &g, &in, want_iter, key, key_len, &p);
        if (st == PL_ERR_UNSUPPORTED) {
            pl_err_clear();
            return pl_tactic_reference.run(r, xn);
        }
        PL_TRY(st);
    }
    const rnn_pack *k = p->weights;
    char *wbase = p->weights;
    pl_dnnl_arg args[12];
    int n = 0;
    args[n++] = (pl_dnnl_arg){DNNL_ARG_SRC_LAYER, &k->md[MD_SRC], in.x->data};
    if (src_iter[0]) args[n++] = (pl_dnnl_arg){DNNL_ARG_SRC_ITER, &k->md[MD_SRC_ITER], src_iter[0]};
    if (src_iter[1]) args[n++] = (pl_dnnl_arg){DNNL_ARG_SRC_ITER_C, &k->md[MD_SRC_ITER_C], src_iter[1]};
    args[n++] = (pl_dnnl_arg){DNNL_ARG_WEIGHTS_LAYER, &k->md[MD_WL], wbase + k->off_wl};
    args[n++] = (pl_dnnl_arg){DNNL_ARG_WEIGHTS_ITER, &k->md[MD_WI], wbase + k->off_wi};
    if (k->has[MD_WP]) args[n++] = (pl_dnnl_arg){DNNL_ARG_WEIGHTS_PEEPHOLE, &k->md[MD_WP], wbase + k->off_wp};
    args[n++] = (pl_dnnl_arg){DNNL_ARG_BIAS, &k->md[MD_BIAS], wbase + k->off_bias};
    args[n++] = (pl_dnnl_arg){DNNL_ARG_DST_LAYER, &k->md[MD_DST], dst};
    if (dst_iter[0]) args[n++] = (pl_dnnl_arg){DNNL_ARG_DST_ITER, &k->md[MD_DST_ITER], dst_iter[0]};
    if (dst_iter[1]) args[n++] = (pl_dnnl_arg){DNNL_ARG_DST_ITER_C, &k->md[MD_DST_ITER_C], dst_iter[1]};
    PL_TRY(pl_dnnl_prim_exec(r, p, n, args, dst)); /* p is not used after this */
    /* oneDNN's [T, N, 2H] into ONNX's [T, 2, N, H]; states [D, N, H] into [N, D, H] */
    if (want_y && !y_direct)
        for (int64_t t = 0; t < T; t++) swap01(ytmp + t * DNH, N, D, H, (float *)y->data + t * DNH);
    for (int i = 0; i < 2; i++)
        if (want_st[i] && g.layout) swap01(state[2 + i], D, N, H, yst[i]->data);
    return PL_OK;
}

const pl_tactic pl_tactic_dnnl_rnn = {.name = "onednn:rnn", .accepts = rnn_accepts, .run = rnn_run};
