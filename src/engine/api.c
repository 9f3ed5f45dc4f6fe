/* api.c - the public model, engine and context API of include/plaster.h. */
#include "engine.h"

#include "../backend/cpu.h"
#include "../onnx/onnx.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pl_status pl_model_load_bytes(const void *bytes, size_t size, const char *base_dir,
                              pl_model **out) {
    *out = NULL;
    pl_err_clear();
    return pl_onnx_parse(bytes, size, NULL, base_dir, out);
}

pl_status pl_model_load(const char *path, pl_model **out) {
    *out = NULL;
    pl_err_clear();
    void *buf;
    size_t size;
    PL_TRY(pl_read_file(path, &buf, &size));
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    pl_status st = pl_onnx_parse(buf, size, path, dir, out);
    free(buf);
    return st;
}

void pl_model_destroy(pl_model *m) {
    if (!m) return;
    pl_model_free_contents(m);
    free(m);
}

int pl_model_input_count(const pl_model *m) { return m->n_real_inputs; }
int pl_model_output_count(const pl_model *m) { return m->graph->n_outputs; }

static void fill_info(const pl_value *v, pl_io_info *out) {
    memset(out, 0, sizeof *out);
    out->name = v->name;
    out->kind = v->info.optional                   ? PL_VALUE_OPTIONAL
                : v->info.kind == PL_KIND_SEQUENCE ? PL_VALUE_SEQUENCE
                                                   : PL_VALUE_TENSOR;
    out->dtype = v->info.kind == PL_KIND_SEQUENCE ? PL_DT_UNDEFINED : v->info.dtype;
    out->rank = v->info.rank;
    for (int d = 0; d < v->info.rank && d < PL_MAX_RANK; d++) {
        out->dims[d].value = v->info.dims[d];
        out->dims[d].symbol = v->info.symbols[d];
    }
}

pl_status pl_model_input_info(const pl_model *m, int i, pl_io_info *out) {
    if (i < 0 || i >= m->n_real_inputs)
        return pl_err(PL_ERR_INVALID, "input index %d out of range (model has %d)", i, m->n_real_inputs);
    fill_info(&m->graph->values[m->real_inputs[i]], out);
    return PL_OK;
}

pl_status pl_model_output_info(const pl_model *m, int i, pl_io_info *out) {
    if (i < 0 || i >= m->graph->n_outputs)
        return pl_err(PL_ERR_INVALID, "output index %d out of range (model has %d)", i, m->graph->n_outputs);
    fill_info(&m->graph->values[m->graph->outputs[i]], out);
    return PL_OK;
}

pl_status pl_model_summary_get(const pl_model *m, pl_model_summary *out) {
    memset(out, 0, sizeof *out);
    out->ir_version = m->ir_version;
    out->opset = pl_model_opset_of(m, "");
    out->producer = m->producer;
    out->domain = m->domain;
    out->graph_name = m->graph->name;
    out->node_count = m->graph->n_nodes;
    for (int i = 0; i < m->graph->n_values; i++) {
        const pl_tensor *t = m->graph->values[i].init;
        if (!t) continue;
        out->initializer_count++;
        out->parameter_count += t->numel;
        out->parameter_bytes += t->dtype == PL_DT_STRING ? 0 : (int64_t)t->nbytes;
    }
    return PL_OK;
}

int pl_model_op_count(const pl_model *m) { return m->n_ops; }

pl_status pl_model_op_get(const pl_model *m, int i, const char **op, int64_t *count,
                          int *supported) {
    if (i < 0 || i >= m->n_ops) return pl_err(PL_ERR_INVALID, "op index %d out of range", i);
    *op = m->op_names[i];
    *count = m->op_counts[i];
    *supported = m->op_supported[i];
    return PL_OK;
}

int pl_model_opset_count(const pl_model *m) { return m->n_opsets; }

pl_status pl_model_opset_get(const pl_model *m, int i, const char **domain, int64_t *version) {
    if (i < 0 || i >= m->n_opsets) return pl_err(PL_ERR_INVALID, "opset index %d out of range", i);
    *domain = m->opsets[i].domain;
    *version = m->opsets[i].version;
    return PL_OK;
}

int pl_model_metadata_count(const pl_model *m) { return m->n_meta; }

pl_status pl_model_metadata_get(const pl_model *m, int i, const char **key, const char **value) {
    if (i < 0 || i >= m->n_meta) return pl_err(PL_ERR_INVALID, "metadata index %d out of range", i);
    *key = m->meta_keys[i];
    *value = m->meta_values[i];
    return PL_OK;
}

pl_status pl_engine_build(const pl_model *m, const pl_build_options *opt, pl_engine **out) {
    *out = NULL;
    pl_err_clear();
    const char *backend = opt && opt->backend ? opt->backend : "reference";
    bool cpu = !strcmp(backend, "cpu");
    if (strcmp(backend, "reference") != 0 && !cpu)
        return pl_err(PL_ERR_UNSUPPORTED, "backend '%s' is not available (known: reference, cpu)", backend);
    for (int i = 0; i < m->n_ops; i++)
        if (!m->op_supported[i])
            return pl_err(PL_ERR_UNSUPPORTED, "%s: op %s is not supported by the %s backend",
                          m->path, m->op_names[i], backend);
    pl_engine *e = calloc(1, sizeof *e);
    if (!e) return pl_err(PL_ERR_NOMEM, "out of memory");
    e->model = m;
    e->threads = opt ? opt->threads : 0;
    snprintf(e->backend, sizeof e->backend, "%s", backend);
    if (cpu) {
        pl_cpu_build_opts co = {.threads = e->threads,
                                .time_tactics = opt && opt->time_tactics,
                                .batch = opt ? opt->batch : 0,
                                .no_dnnl = opt && opt->no_onednn};
        pl_status st = pl_cpu_engine_build(m, &co, &e->cpu);
        if (st != PL_OK) {
            free(e);
            return st;
        }
    }
    *out = e;
    return PL_OK;
}

void pl_engine_destroy(pl_engine *e) {
    if (!e) return;
    pl_cpu_engine_free(e->cpu);
    free(e);
}

int pl_engine_node_count(const pl_engine *e) {
    if (!e) return 0;
    if (!e->cpu) return e->model->graph->n_nodes;
    int n = 0;
    for (int k = 0; k < e->cpu->xg->n_nodes; k++) n += !e->cpu->xg->nodes[k].dead;
    return n;
}

/* The index-th live node of the cpu engine's x-graph, or NULL. */
static const pl_xnode *live_xnode(const pl_engine *e, int index) {
    const pl_xgraph *xg = e->cpu->xg;
    for (int k = 0, n = 0; k < xg->n_nodes && index >= 0; k++) {
        if (xg->nodes[k].dead) continue;
        if (n++ == index) return &xg->nodes[k];
    }
    return NULL;
}

pl_status pl_engine_node_get(const pl_engine *e, int index, const char **op, const char **name,
                             const char **tactic, int *n_post) {
    const pl_node *node = NULL;
    const pl_xnode *xn = NULL;
    if (e && e->cpu) {
        xn = live_xnode(e, index);
        node = xn ? xn->node : NULL;
    } else if (e && index >= 0 && index < e->model->graph->n_nodes) {
        node = &e->model->graph->nodes[index];
    }
    if (!node) return pl_err(PL_ERR_INVALID, "node index %d out of range (the engine runs %d nodes)", index,
                             pl_engine_node_count(e));
    if (op) *op = node->op_type;
    if (name) *name = node->name;
    if (tactic) *tactic = xn && xn->tactic ? xn->tactic->name : "reference";
    if (n_post) *n_post = xn ? xn->n_post : 0;
    return PL_OK;
}

const char *pl_engine_node_post(const pl_engine *e, int index, int k) {
    const pl_xnode *xn = e && e->cpu ? live_xnode(e, index) : NULL;
    if (!xn || k < 0 || k >= xn->n_post) return NULL;
    return pl_post_name(xn->post[k].kind);
}

pl_status pl_context_create(pl_engine *e, pl_context **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return pl_err(PL_ERR_NOMEM, "out of memory");
    (*out)->engine = e;
    return PL_OK;
}

void pl_context_destroy(pl_context *ctx) {
    if (!ctx) return;
    pl_cpu_ctx_state_free(ctx->cpu_state);
    free(ctx);
}

/* Checks an input against the declared type; binds symbolic dims consistently. */
static pl_status check_input(const pl_value *v, int index, const pl_tensor *t, const char **sym_names,
                             int64_t *sym_vals, int *n_sym) {
    const pl_value_info *info = &v->info;
    if (!t) return pl_err(PL_ERR_INVALID, "input %d '%s' is missing", index, v->name);
    if (t->kind == PL_KIND_NONE) {
        if (info->optional) return PL_OK;
        return pl_err(PL_ERR_INVALID, "input %d '%s' is not optional but no value was given", index, v->name);
    }
    if (info->kind == PL_KIND_SEQUENCE) {
        if (t->kind != PL_KIND_SEQUENCE)
            return pl_err(PL_ERR_INVALID, "input %d '%s' must be a sequence", index, v->name);
        return PL_OK;
    }
    if (t->kind == PL_KIND_SEQUENCE)
        return pl_err(PL_ERR_INVALID, "input %d '%s' must be a tensor, got a sequence", index, v->name);
    if (info->dtype != PL_DT_UNDEFINED && info->dtype != t->dtype)
        return pl_err(PL_ERR_INVALID, "input %d '%s' must be %s, got %s", index, v->name,
                      pl_dtype_name(info->dtype), pl_dtype_name(t->dtype));
    if (info->rank < 0) return PL_OK;
    char want[512], got[512];
    if (info->rank != t->rank) {
        return pl_err(PL_ERR_INVALID, "input %d '%s' must have rank %d, got shape %s", index,
                      v->name, info->rank, pl_dims_str(t->rank, t->dims, got, sizeof got));
    }
    for (int d = 0; d < info->rank; d++) {
        if (info->dims[d] >= 0 && info->dims[d] != t->dims[d]) {
            pl_dims_str(info->rank, info->dims, want, sizeof want);
            return pl_err(PL_ERR_INVALID, "input %d '%s': dim %d must be %lld, got shape %s (declared %s, -1 = any)",
                          index, v->name, d, (long long)info->dims[d],
                          pl_dims_str(t->rank, t->dims, got, sizeof got), want);
        }
        const char *s = info->symbols[d];
        if (!s || !s[0]) continue;
        int k = 0;
        while (k < *n_sym && strcmp(sym_names[k], s)) k++;
        if (k == *n_sym) {
            if (*n_sym < 64) {
                sym_names[k] = s;
                sym_vals[k] = t->dims[d];
                (*n_sym)++;
            }
        } else if (sym_vals[k] != t->dims[d]) {
            return pl_err(PL_ERR_INVALID, "input %d '%s': dim %d ('%s') is %lld, but '%s' was bound to %lld by an earlier input",
                          index, v->name, d, s, (long long)t->dims[d], s, (long long)sym_vals[k]);
        }
    }
    return PL_OK;
}

static pl_status context_run(pl_context *ctx, int n_inputs, pl_tensor *const *inputs, int n_outputs,
                             pl_tensor **outputs, bool into);

pl_status pl_context_run(pl_context *ctx, int n_inputs, pl_tensor *const *inputs, int n_outputs,
                         pl_tensor **outputs) {
    pl_err_clear();
    for (int i = 0; i < n_outputs; i++) outputs[i] = NULL;
    return context_run(ctx, n_inputs, inputs, n_outputs, outputs, false);
}

static bool overlaps(const pl_tensor *a, const pl_tensor *b) {
    if (!a->data || !b->data || !a->nbytes || !b->nbytes) return false;
    const char *pa = a->data, *pb = b->data;
    return pa < pb + b->nbytes && pb < pa + a->nbytes;
}

pl_status pl_context_run_into(pl_context *ctx, int n_inputs, pl_tensor *const *inputs, int n_outputs,
                              pl_tensor **outputs) {
    pl_err_clear();
    if (n_outputs < 0 || n_outputs > ctx->engine->model->graph->n_outputs)
        return pl_err(PL_ERR_INVALID, "the model has %d outputs, %d asked for", ctx->engine->model->graph->n_outputs,
                      n_outputs);
    int n_bound = 0;
    for (int i = 0; i < n_outputs; i++) {
        const pl_tensor *b = outputs[i];
        if (!b) continue;
        n_bound++;
        if (b->kind != PL_KIND_TENSOR || (b->numel && !b->data))
            return pl_err(PL_ERR_INVALID, "output %d: the tensor bound to it is not a tensor with data", i);
        for (int k = 0; k < n_inputs; k++)
            if (inputs[k] && overlaps(b, inputs[k]))
                return pl_err(PL_ERR_INVALID, "output %d: the tensor bound to it shares memory with input %d", i, k);
        for (int k = 0; k < i; k++)
            if (outputs[k] && overlaps(b, outputs[k]))
                return pl_err(PL_ERR_INVALID, "output %d: the tensor bound to it shares memory with output %d", i, k);
    }
    if (n_bound && n_outputs > 64) return pl_err(PL_ERR_UNSUPPORTED, "binding outputs of a model with more than 64 outputs");
    return context_run(ctx, n_inputs, inputs, n_outputs, outputs, n_bound > 0);
}

/* The reference backend computes fresh outputs; bound ones are copied in. */
static pl_status copy_bound(const pl_graph *g, int n_outputs, pl_tensor *const *bind, pl_tensor **outputs) {
    pl_status st = PL_OK;
    for (int i = 0; i < n_outputs; i++) {
        if (!bind[i]) continue;
        pl_tensor *t = outputs[i], *b = bind[i];
        if (st == PL_OK && (t->kind != PL_KIND_TENSOR || t->dtype != b->dtype || t->rank != b->rank ||
                            (t->rank && memcmp(t->dims, b->dims, (size_t)t->rank * sizeof *t->dims))))
            st = pl_err(PL_ERR_INVALID, "output %d '%s': the tensor bound to it has another type or shape than the model's output",
                        i, g->values[g->outputs[i]].name);
        else if (st == PL_OK && t->nbytes)
            memcpy(b->data, t->data, t->nbytes);
        pl_tensor_destroy(t);
        outputs[i] = b;
    }
    for (int i = 0; st != PL_OK && i < n_outputs; i++)
        if (!bind[i]) {
            pl_tensor_destroy(outputs[i]);
            outputs[i] = NULL;
        }
    return st;
}

static pl_status context_run(pl_context *ctx, int n_inputs, pl_tensor *const *inputs, int n_outputs,
                             pl_tensor **outputs, bool into) {
    const pl_model *m = ctx->engine->model;
    const pl_graph *g = m->graph;
    if (n_inputs != m->n_real_inputs)
        return pl_err(PL_ERR_INVALID, "the model takes %d inputs, %d given", m->n_real_inputs, n_inputs);
    if (n_outputs < 0 || n_outputs > g->n_outputs)
        return pl_err(PL_ERR_INVALID, "the model has %d outputs, %d asked for", g->n_outputs, n_outputs);
    const char *sym_names[64];
    int64_t sym_vals[64];
    int n_sym = 0;
    for (int i = 0; i < n_inputs; i++)
        PL_TRY(check_input(&g->values[m->real_inputs[i]], i, inputs[i], sym_names, sym_vals, &n_sym));
    /* graph inputs in declared order: real inputs from the caller, initializers as defaults */
    pl_tensor **bound = calloc(g->n_inputs ? (size_t)g->n_inputs : 1, sizeof *bound);
    if (!bound) return pl_err(PL_ERR_NOMEM, "out of memory");
    for (int i = 0, k = 0; i < g->n_inputs; i++) {
        const pl_value *v = &g->values[g->inputs[i]];
        bound[i] = v->init ? v->init : inputs[k++];
    }
    pl_status st;
    if (ctx->engine->cpu && into) {
        st = pl_cpu_run_into(ctx->engine->cpu, &ctx->cpu_state, ctx->hook, ctx->hook_user, g->n_inputs, bound,
                             n_outputs, outputs);
    } else if (ctx->engine->cpu) {
        st = pl_cpu_run(ctx->engine->cpu, &ctx->cpu_state, ctx->hook, ctx->hook_user, g->n_inputs, bound, n_outputs,
                        outputs);
    } else {
        pl_tensor *bind[64] = {0}; /* into: n_outputs <= 64 (pl_context_run_into) */
        for (int i = 0; into && i < n_outputs; i++) bind[i] = outputs[i];
        st = pl_exec_graph_hooked(g, NULL, ctx->hook, ctx->hook_user, g->n_inputs, bound, n_outputs, outputs);
        if (st == PL_OK && into) st = copy_bound(g, n_outputs, bind, outputs);
        else if (st != PL_OK && into)
            for (int i = 0; i < n_outputs; i++) outputs[i] = bind[i];
    }
    free(bound);
    return st;
}

void pl_context_memory(const pl_context *ctx, size_t *arena_bytes, size_t *unshared_bytes) {
    size_t unshared = 0;
    size_t arena = ctx && ctx->cpu_state ? pl_cpu_ctx_arena_bytes(ctx->cpu_state, &unshared) : 0;
    if (arena_bytes) *arena_bytes = arena;
    if (unshared_bytes) *unshared_bytes = unshared;
}

int64_t pl_context_batch_split(const pl_context *ctx) {
    return ctx && ctx->cpu_state ? pl_cpu_ctx_split_chunk(ctx->cpu_state) : 0;
}

int pl_context_fixed_nodes(const pl_context *ctx) {
    return ctx && ctx->cpu_state ? pl_cpu_ctx_fixed_nodes(ctx->cpu_state) : 0;
}
