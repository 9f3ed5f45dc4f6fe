/* size.c - size of model: parameters, bytes per precision, per-layer neurons, connections,
 * MACs, activation bytes, arithmetic intensity and peak activation memory, measured by one
 * hooked run of the reference executor. */
#include "../engine/engine.h"

#include <stdlib.h>
#include <string.h>

typedef struct size_run {
    const pl_graph *g;
    pl_size_report *r;
    int64_t *value_bytes; /* per top-level value: bytes it held, -1 unknown */
    pl_status st;
} size_run;

static int64_t bytes_of(const pl_tensor *t) {
    if (!t) return 0;
    if (t->kind == PL_KIND_SEQUENCE) {
        int64_t b = 0;
        for (int i = 0; i < t->seq_len; i++) b += bytes_of(t->seq[i]);
        return b;
    }
    return t->kind == PL_KIND_TENSOR ? (int64_t)t->nbytes : 0;
}

static int64_t prod(const int64_t *d, int from, int to) {
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= d[i];
    return p;
}

/* MACs of one node from its actual inputs and outputs. */
static int64_t node_macs(const pl_node *n, const pl_tensor *const *in, pl_tensor *const *out) {
    const char *op = n->op_type;
    const pl_tensor *x = n->n_in > 0 ? in[0] : NULL, *w = n->n_in > 1 ? in[1] : NULL;
    const pl_tensor *y = n->n_out > 0 ? out[0] : NULL;
    if (n->domain[0] && strcmp(n->domain, "ai.onnx")) return 0;
    if (!x || !y || x->kind != PL_KIND_TENSOR || y->kind != PL_KIND_TENSOR) return 0;
    if ((!strcmp(op, "Conv") || !strcmp(op, "ConvInteger") || !strcmp(op, "QLinearConv")) ) {
        if (!strcmp(op, "QLinearConv")) w = n->n_in > 3 ? in[3] : NULL;
        if (!w || w->rank < 2) return 0;
        return y->numel * w->dims[1] * prod(w->dims, 2, w->rank); /* Cin/group = W dim 1 */
    }
    if (!strcmp(op, "ConvTranspose")) {
        if (!w || w->rank < 2) return 0;
        return x->numel * w->dims[1] * prod(w->dims, 2, w->rank); /* each input pixel scatters Cout/group x k */
    }
    if (!strcmp(op, "Gemm")) {
        if (!w || x->rank != 2) return 0;
        int64_t k = pl_attr_int(n, "transA", 0) ? x->dims[0] : x->dims[1];
        return y->numel * k;
    }
    if (!strcmp(op, "MatMul") || !strcmp(op, "MatMulInteger") || !strcmp(op, "QLinearMatMul")) {
        const pl_tensor *a = x;
        if (a->rank < 1) return 0;
        return y->numel * a->dims[a->rank - 1];
    }
    if (!strcmp(op, "LSTM") || !strcmp(op, "GRU") || !strcmp(op, "RNN")) {
        const pl_tensor *r = n->n_in > 2 ? in[2] : NULL;
        if (!w || !r || w->rank != 3 || r->rank != 3 || x->rank != 3) return 0;
        int layout = (int)pl_attr_int(n, "layout", 0);
        int64_t steps = layout ? x->dims[1] : x->dims[0], batch = layout ? x->dims[0] : x->dims[1];
        /* W: [dirs, gates*H, I], R: [dirs, gates*H, H]: one MAC per weight per step and sample */
        return steps * batch * (w->numel + r->numel);
    }
    return 0;
}

static void on_node(void *user, int index, const pl_node *n, const pl_tensor *const *in,
                    pl_tensor *const *out, double ns) {
    (void)ns;
    size_run *s = user;
    if (s->st != PL_OK) return;
    pl_layer_size *l = &s->r->layers[index];
    const pl_graph *g = s->g;
    l->name = n->name;
    l->op = n->op_type;
    const pl_tensor *y = n->n_out > 0 ? out[0] : NULL;
    if (y && y->kind == PL_KIND_TENSOR) {
        l->dtype = y->dtype;
        l->rank = y->rank;
        memcpy(l->dims, y->dims, sizeof l->dims);
        l->neurons = y->rank > 0 && s->r->batch > 0 && y->dims[0] == s->r->batch ? y->numel / s->r->batch : y->numel;
    }
    for (int i = 0; i < n->n_out; i++) {
        int64_t b = bytes_of(out[i]);
        l->activation_bytes += b;
        if (n->out[i] >= 0) s->value_bytes[n->out[i]] = b;
    }
    for (int i = 0; i < n->n_in; i++) {
        if (n->in[i] < 0 || !in[i]) continue;
        const pl_value *v = &g->values[n->in[i]];
        if (v->init) {
            l->params += v->init->numel;
            l->weight_bytes += bytes_of(v->init);
            if (i == 1 || (i == 2 && (!strcmp(n->op_type, "LSTM") || !strcmp(n->op_type, "GRU") || !strcmp(n->op_type, "RNN"))))
                l->connections += v->init->numel;
        } else {
            l->input_bytes += bytes_of(in[i]);
        }
    }
    l->macs = node_macs(n, in, out);
    int64_t moved = l->input_bytes + l->weight_bytes + l->activation_bytes;
    l->intensity = l->macs > 0 && moved > 0 ? 2.0 * (double)l->macs / (double)moved : 0.0;
}

/* Peak bytes of non-initializer values alive at once, freeing each after its last reader. */
static int64_t peak_activation(const pl_graph *g, const int64_t *value_bytes) {
    int n = g->n_nodes;
    int *last = malloc((size_t)(g->n_values ? g->n_values : 1) * sizeof *last);
    if (!last) return -1;
    for (int v = 0; v < g->n_values; v++) last[v] = -1;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0) last[g->nodes[i].in[k]] = i;
    for (int k = 0; k < g->n_outputs; k++) last[g->outputs[k]] = n;
    int64_t live = 0, peak = 0;
    for (int v = 0; v < g->n_values; v++) /* graph inputs are alive from the start */
        if (g->values[v].producer < 0 && !g->values[v].init && value_bytes[v] > 0) live += value_bytes[v];
    peak = live;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < g->nodes[i].n_out; k++) {
            int v = g->nodes[i].out[k];
            if (v >= 0 && value_bytes[v] > 0) live += value_bytes[v];
        }
        if (live > peak) peak = live;
        for (int v = 0; v < g->n_values; v++)
            if (last[v] == i && !g->values[v].init && value_bytes[v] > 0) live -= value_bytes[v];
        for (int k = 0; k < g->nodes[i].n_out; k++) { /* outputs nobody reads */
            int v = g->nodes[i].out[k];
            if (v >= 0 && last[v] < 0 && value_bytes[v] > 0) live -= value_bytes[v];
        }
    }
    free(last);
    return peak;
}

pl_status pl_model_size(const pl_model *m, int64_t batch, pl_size_report **out) {
    *out = NULL;
    if (batch < 1) return pl_err(PL_ERR_INVALID, "batch must be at least 1, got %lld", (long long)batch);
    const pl_graph *g = m->graph;
    pl_size_report *r = calloc(1, sizeof *r);
    size_run s = {.g = g, .r = r, .st = PL_OK};
    pl_tensor **inputs = calloc((size_t)m->n_real_inputs + 1, sizeof *inputs);
    pl_tensor **outputs = calloc((size_t)g->n_outputs + 1, sizeof *outputs);
    s.value_bytes = calloc((size_t)g->n_values + 1, sizeof *s.value_bytes);
    if (r) r->layers = calloc((size_t)g->n_nodes + 1, sizeof *r->layers);
    pl_engine *e = NULL;
    pl_context *ctx = NULL;
    pl_status st = PL_OK;
    if (!r || !inputs || !outputs || !s.value_bytes || !r->layers) st = pl_err(PL_ERR_NOMEM, "out of memory");
    if (st == PL_OK) {
        r->batch = batch;
        r->n_layers = g->n_nodes;
        for (int v = 0; v < g->n_values; v++) {
            const pl_tensor *t = g->values[v].init;
            if (!t) continue;
            r->params += t->numel;
            r->param_bytes += bytes_of(t);
            bool fl = pl_dtype_is_float(t->dtype);
            r->bytes_fp32 += fl ? t->numel * 4 : bytes_of(t);
            r->bytes_bf16 += fl ? t->numel * 2 : bytes_of(t);
            r->bytes_fp16 += fl ? t->numel * 2 : bytes_of(t);
            r->bytes_int8 += fl ? t->numel : bytes_of(t);
        }
        st = pl_engine_build(m, NULL, &e);
    }
    if (st == PL_OK) st = pl_context_create(e, &ctx);
    for (int i = 0; st == PL_OK && i < m->n_real_inputs; i++) {
        const pl_value *v = &g->values[m->real_inputs[i]];
        if (v->info.kind != PL_KIND_TENSOR || v->info.optional) {
            st = pl_err(PL_ERR_UNSUPPORTED, "size analysis: input '%s' is a sequence or optional; give inputs explicitly", v->name);
            break;
        }
        int rank = v->info.rank < 0 ? 0 : v->info.rank;
        int64_t dims[PL_MAX_RANK];
        for (int d = 0; d < rank; d++) dims[d] = v->info.dims[d] >= 0 ? v->info.dims[d] : (d == 0 ? batch : 1);
        pl_dtype dt = v->info.dtype == PL_DT_UNDEFINED ? PL_DT_FLOAT : v->info.dtype;
        st = pl_tensor_create(dt, rank, dims, &inputs[i]);
        if (st == PL_OK) {
            s.value_bytes[m->real_inputs[i]] = bytes_of(inputs[i]);
            r->input_bytes += bytes_of(inputs[i]);
        }
    }
    if (st == PL_OK) {
        ctx->hook = on_node;
        ctx->hook_user = &s;
        st = pl_context_run(ctx, m->n_real_inputs, inputs, g->n_outputs, outputs);
        if (st != PL_OK) pl_err_prefix(st, "size analysis (one run on zero inputs, batch %lld)", (long long)batch);
        else st = s.st;
    }
    if (st == PL_OK) {
        for (int i = 0; i < r->n_layers; i++) {
            r->macs += r->layers[i].macs;
            r->layers_with_macs += r->layers[i].macs > 0;
        }
        r->peak_activation_bytes = peak_activation(g, s.value_bytes);
        if (r->peak_activation_bytes < 0) st = pl_err(PL_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; inputs && i < m->n_real_inputs; i++) pl_tensor_destroy(inputs[i]);
    for (int i = 0; outputs && i < g->n_outputs; i++) pl_tensor_destroy(outputs[i]);
    free(inputs);
    free(outputs);
    free(s.value_bytes);
    pl_context_destroy(ctx);
    pl_engine_destroy(e);
    if (st != PL_OK) {
        pl_size_report_destroy(r);
        return st;
    }
    *out = r;
    return PL_OK;
}

void pl_size_report_destroy(pl_size_report *r) {
    if (!r) return;
    free(r->layers);
    free(r);
}
