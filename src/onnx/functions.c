/* functions.c - inline ONNX model-local functions (ModelProto.functions) at their call sites.
 * Each call's body nodes get unique value names ("<function>#<call>/<name>"); the function's
 * formal inputs and outputs map to the call's actual names; attributes that refer to the
 * call's attributes (ref_attr_name) take the caller's value. Limitation: names inside nested
 * subgraph attributes of a function body are not renamed. */
#include "onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32

typedef struct arena {
    void **ptrs;
    size_t n, cap;
} arena;

typedef struct inliner {
    const Onnx__ModelProto *model;
    arena mem;
    Onnx__NodeProto **out;
    size_t n_out, cap_out;
    int calls;
} inliner;

static void *arena_keep(arena *a, void *p) {
    if (!p) return NULL;
    if (a->n == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 64;
        void **np = realloc(a->ptrs, ncap * sizeof *np);
        if (!np) {
            free(p);
            return NULL;
        }
        a->ptrs = np;
        a->cap = ncap;
    }
    a->ptrs[a->n++] = p;
    return p;
}

static char *arena_fmt(arena *a, const char *prefix, const char *name) {
    size_t n = strlen(prefix) + strlen(name) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s", prefix, name);
    return arena_keep(a, s);
}

static const Onnx__FunctionProto *find_function(const Onnx__ModelProto *m, const char *domain,
                                                const char *op) {
    for (size_t i = 0; i < m->n_functions; i++) {
        const Onnx__FunctionProto *f = m->functions[i];
        const char *fd = f->domain ? f->domain : "";
        if (f->name && !strcmp(f->name, op) && !strcmp(fd, domain ? domain : "")) return f;
    }
    return NULL;
}

static pl_status push(inliner *in, Onnx__NodeProto *n) {
    if (in->n_out == in->cap_out) {
        size_t ncap = in->cap_out ? in->cap_out * 2 : 64;
        Onnx__NodeProto **nv = realloc(in->out, ncap * sizeof *nv);
        if (!nv) return pl_err(PL_ERR_NOMEM, "out of memory");
        in->out = nv;
        in->cap_out = ncap;
    }
    in->out[in->n_out++] = n;
    return PL_OK;
}

/* The call-site name of `name` used inside the function body. */
static char *map_name(inliner *in, const Onnx__FunctionProto *f, const Onnx__NodeProto *call,
                      const char *prefix, const char *name) {
    if (!name || !name[0]) return "";
    for (size_t i = 0; i < f->n_input; i++)
        if (!strcmp(f->input[i], name)) return i < call->n_input ? call->input[i] : "";
    for (size_t i = 0; i < f->n_output; i++)
        if (!strcmp(f->output[i], name)) return i < call->n_output ? call->output[i] : "";
    return arena_fmt(&in->mem, prefix, name);
}

static pl_status expand(inliner *in, Onnx__NodeProto *node, int depth);

static pl_status inline_call(inliner *in, const Onnx__FunctionProto *f, const Onnx__NodeProto *call,
                             int depth) {
    if (depth >= MAX_DEPTH)
        return pl_err(PL_ERR_INVALID, "node '%s': function '%s' nests deeper than %d calls (recursive?)",
                      call->name ? call->name : "", f->name, MAX_DEPTH);
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s#%d/", f->name, in->calls++);
    for (size_t b = 0; b < f->n_node; b++) {
        const Onnx__NodeProto *body = f->node[b];
        Onnx__NodeProto *n = arena_keep(&in->mem, malloc(sizeof *n));
        if (!n) return pl_err(PL_ERR_NOMEM, "out of memory");
        *n = *body;
        n->name = arena_fmt(&in->mem, prefix, body->name ? body->name : "");
        n->input = arena_keep(&in->mem, calloc(body->n_input + 1, sizeof(char *)));
        n->output = arena_keep(&in->mem, calloc(body->n_output + 1, sizeof(char *)));
        n->attribute = arena_keep(&in->mem, calloc(body->n_attribute + 1, sizeof(void *)));
        if (!n->name || !n->input || !n->output || !n->attribute) return pl_err(PL_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < body->n_input; i++)
            if (!(n->input[i] = map_name(in, f, call, prefix, body->input[i])))
                return pl_err(PL_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < body->n_output; i++)
            if (!(n->output[i] = map_name(in, f, call, prefix, body->output[i])))
                return pl_err(PL_ERR_NOMEM, "out of memory");
        n->n_attribute = 0;
        for (size_t i = 0; i < body->n_attribute; i++) {
            Onnx__AttributeProto *a = body->attribute[i];
            if (!a->ref_attr_name || !a->ref_attr_name[0]) {
                n->attribute[n->n_attribute++] = a;
                continue;
            }
            for (size_t k = 0; k < call->n_attribute; k++) {
                if (strcmp(call->attribute[k]->name, a->ref_attr_name)) continue;
                Onnx__AttributeProto *copy = arena_keep(&in->mem, malloc(sizeof *copy));
                if (!copy) return pl_err(PL_ERR_NOMEM, "out of memory");
                *copy = *call->attribute[k];
                copy->name = a->name;
                copy->ref_attr_name = NULL;
                n->attribute[n->n_attribute++] = copy;
                break;
            } /* absent: the attribute's default applies */
        }
        PL_TRY(expand(in, n, depth + 1));
    }
    return PL_OK;
}

static pl_status expand(inliner *in, Onnx__NodeProto *node, int depth) {
    const Onnx__FunctionProto *f = find_function(in->model, node->domain, node->op_type ? node->op_type : "");
    if (!f) return push(in, node);
    return inline_call(in, f, node, depth);
}

pl_status pl_onnx_inline_functions(const Onnx__ModelProto *model, Onnx__NodeProto **nodes,
                                   size_t n_nodes, pl_fn_expansion *out) {
    out->nodes = nodes;
    out->n_nodes = n_nodes;
    out->owned = NULL;
    bool any = false;
    for (size_t i = 0; i < n_nodes && !any; i++)
        any = find_function(model, nodes[i]->domain, nodes[i]->op_type ? nodes[i]->op_type : "") != NULL;
    if (!any) return PL_OK;
    inliner *in = calloc(1, sizeof *in);
    if (!in) return pl_err(PL_ERR_NOMEM, "out of memory");
    in->model = model;
    pl_status st = PL_OK;
    for (size_t i = 0; i < n_nodes && st == PL_OK; i++) st = expand(in, nodes[i], 0);
    out->owned = in;
    if (st != PL_OK) return st;
    out->nodes = in->out;
    out->n_nodes = in->n_out;
    return PL_OK;
}

void pl_onnx_expansion_free(pl_fn_expansion *x) {
    inliner *in = x->owned;
    if (!in) return;
    for (size_t i = 0; i < in->mem.n; i++) free(in->mem.ptrs[i]);
    free(in->mem.ptrs);
    free(in->out);
    free(in);
    x->owned = NULL;
}
