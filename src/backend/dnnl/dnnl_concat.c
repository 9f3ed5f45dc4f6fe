/* dnnl_concat.c - Concat and Sum (all inputs of one shape) on oneDNN's concat and sum
 * primitives. The inputs are read in the layouts they arrive in; the output is blocked (the
 * layout oneDNN picks, usually that of the inputs) when every input is blocked, as between
 * the convolutions of a DenseNet or an Inception block, and plain otherwise. Float tensors
 * only; anything else runs on the reference. */
#include "dnnl_util.h"

#include <stdlib.h>
#include <string.h>

static bool concat_accepts(const pl_xgraph *xg, const pl_xnode *xn) {
    if (xn->node->domain[0] || xn->n_in < 1 || xn->n_out != 1) return false;
    if (strcmp(xn->op, "Concat") && strcmp(xn->op, "Sum")) return false;
    for (int i = 0; i < xn->n_in; i++)
        if (xn->in[i] < 0 || !pl_dnnl_maybe_float(xg, xn->in[i])) return false;
    return true;
}

/* Executes prim with the n sources (DNNL_ARG_MULTIPLE_SRC + i), dst and a scratchpad. */
static pl_status exec_multi(pl_xrun *r, pl_dnnl_prim *p, int n, const dnnl_memory_desc_t *mds, void *const *data,
                            void *dst) {
    dnnl_exec_arg_t stack[34];
    dnnl_exec_arg_t *ea = n + 2 <= 34 ? stack : calloc((size_t)n + 2, sizeof *ea);
    pl_status st = ea ? PL_OK : pl_err(PL_ERR_NOMEM, "out of memory");
    int made = 0;
    size_t ss = dnnl_memory_desc_get_size(&p->scratch_md);
    void *scratch = NULL;
    if (st == PL_OK && ss && !(scratch = pl_xrun_scratch(r, 0, ss)))
        st = pl_err(PL_ERR_NOMEM, "cannot allocate %zu bytes of oneDNN scratchpad", ss);
    if (st == PL_OK) pl_dnnl_memory_reserve(r, n + 2);
    for (int i = 0; st == PL_OK && i < n + 2; i++) {
        const dnnl_memory_desc_t *md = i < n ? &mds[i] : i == n ? &p->dst_md : &p->scratch_md;
        void *d = i < n ? data[i] : i == n ? dst : scratch;
        if (i == n + 1 && !ss) break;
        ea[i].arg = i < n ? DNNL_ARG_MULTIPLE_SRC + i : i == n ? DNNL_ARG_DST : DNNL_ARG_SCRATCHPAD;
        st = pl_dnnl_memory(r, p->prim, ea[i].arg, md, d, &ea[i].memory);
        if (st != PL_OK) break;
        made++;
    }
    int nt = pl_dnnl_serial_enter(p->serial);
    if (st == PL_OK) st = pl_dnnl_check(dnnl_primitive_execute(p->prim, pl_xrun_stream(r), made, ea), "execute");
    if (st == PL_OK) st = pl_dnnl_check(dnnl_stream_wait(pl_xrun_stream(r)), "stream wait");
    pl_dnnl_serial_leave(nt);
    if (ea != stack) free(ea);
    return st;
}

typedef struct concat_desc {
    const dnnl_memory_desc_t *dmd, *mds;
    int n, axis;
    const float *scales;
    const_dnnl_primitive_attr_t attr;
} concat_desc;

static dnnl_status_t make_pd(dnnl_primitive_desc_t *pd, const void *ctx) {
    const concat_desc *c = ctx;
    if (c->axis >= 0) return dnnl_concat_primitive_desc_create(pd, c->dmd, c->n, c->axis, c->mds, c->attr, pl_dnnl_engine());
    return dnnl_sum_primitive_desc_create(pd, c->dmd, c->n, c->scales, c->mds, c->attr, pl_dnnl_engine());
}

/* Builds the concat (axis >= 0) or sum (axis < 0) primitive over mds. */
static pl_status make_prim(pl_dnnl_prim *p, int n, const dnnl_memory_desc_t *mds, int axis, bool blocked) {
    dnnl_dims_t dd;
    for (int i = 0; i < p->rank; i++) dd[i] = p->out_dims[i];
    int nd = p->rank ? p->rank : 1;
    if (!p->rank) dd[0] = 1;
    float *scales = NULL;
    dnnl_primitive_attr_t attr = NULL;
    pl_status st = pl_dnnl_plain_attr(&attr);
    for (int attempt = blocked ? 0 : 1; st == PL_OK && attempt < 2; attempt++) {
        dnnl_memory_desc_t dmd;
        if (attempt == 0) st = pl_dnnl_check(dnnl_memory_desc_init_by_tag(&dmd, nd, dd, dnnl_f32, dnnl_format_tag_any), "dst");
        else st = pl_dnnl_plain_md(PL_DT_FLOAT, p->rank, p->out_dims, &dmd);
        dnnl_primitive_desc_t pd = NULL;
        if (st == PL_OK && axis < 0) {
            if (!scales) scales = malloc((size_t)n * sizeof *scales);
            if (!scales) st = pl_err(PL_ERR_NOMEM, "out of memory");
            for (int i = 0; st == PL_OK && i < n; i++) scales[i] = 1.0f;
        }
        concat_desc c = {&dmd, mds, n, axis, scales, attr};
        const char *what = axis >= 0 ? "concat" : "sum";
        if (st == PL_OK) st = pl_dnnl_check(make_pd(&pd, &c), what);
        if (st == PL_OK) st = pl_dnnl_create_sized(&pd, make_pd, &c, &p->prim, &p->serial, what);
        p->nthr = p->serial ? 1 : pl_dnnl_threads_now();
        if (st == PL_OK) {
            const dnnl_memory_desc_t *m;
            if ((m = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0))) p->dst_md = *m;
            if ((m = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0))) p->scratch_md = *m;
        }
        if (pd) dnnl_primitive_desc_destroy(pd);
        if (st == PL_OK || st != PL_ERR_UNSUPPORTED || attempt == 1) break;
        pl_err_clear(); /* no blocked implementation: a plain destination */
    }
    free(scales);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
}

/* The key of the inputs' dims and layouts; hashed into 4 values when longer than 64 (a
 * DenseNet Concat has dozens of inputs). */
static void concat_key(int n, const pl_tensor *const *t, const dnnl_memory_desc_t *mds, int64_t *key, int *len) {
    uint64_t h1 = 1469598103934665603ull, h2 = 0x9e3779b97f4a7c15ull;
    int k = 0;
    for (int i = 0; i < n; i++) {
        int64_t v[2 + PL_MAX_RANK + 1];
        int m = 0;
        v[m++] = t[i]->rank;
        for (int d = 0; d < t[i]->rank; d++) v[m++] = t[i]->dims[d];
        v[m++] = pl_dnnl_md_layout(&mds[i]);
        for (int j = 0; j < m; j++) {
            if (k < 64) key[k] = v[j];
            k++;
            h1 = (h1 ^ (uint64_t)v[j]) * 1099511628211ull;
            h2 = (h2 + (uint64_t)v[j]) * 0xff51afd7ed558ccdull;
            h2 ^= h2 >> 33;
        }
    }
    if (k <= 64) {
        *len = k;
        return;
    }
    key[0] = -1;
    key[1] = k;
    key[2] = (int64_t)(h1 >> 1);
    key[3] = (int64_t)(h2 >> 1);
    *len = 4;
}

static pl_status concat_run(pl_xrun *r, pl_xnode *xn) {
    int n = xn->n_in;
    bool sum = !strcmp(xn->op, "Sum");
    dnnl_memory_desc_t *mds = calloc((size_t)n, sizeof *mds);
    void **data = calloc((size_t)n, sizeof *data);
    const pl_tensor **t = calloc((size_t)n, sizeof *t);
    pl_status st = mds && data && t ? PL_OK : pl_err(PL_ERR_NOMEM, "out of memory");
    bool reference = false, blocked = true;
    for (int i = 0; st == PL_OK && i < n; i++) {
        st = pl_xrun_dnnl_in(r, xn, i, &mds[i], &data[i], &t[i]);
        if (st == PL_ERR_UNSUPPORTED) {
            pl_err_clear();
            st = PL_OK;
            reference = true;
            break;
        }
        if (st != PL_OK) break;
        if (t[i]->kind != PL_KIND_TENSOR || t[i]->dtype != PL_DT_FLOAT || t[i]->numel == 0 || t[i]->rank != t[0]->rank)
            reference = true;
        if (pl_dnnl_md_is_plain(&mds[i])) blocked = false;
    }
    int64_t axis = -1;
    if (st == PL_OK && !reference) {
        int rank = t[0]->rank;
        if (!sum) {
            if (xn->node->opset >= 4 && !pl_node_attr(xn->node, "axis")) reference = true; /* it says so */
            axis = pl_attr_int(xn->node, "axis", 1);
            if (axis < 0) axis += rank;
            if (axis < 0 || axis >= rank) reference = true;
        }
        for (int i = 1; i < n && !reference; i++)
            for (int d = 0; d < rank; d++)
                if (d != axis && t[i]->dims[d] != t[0]->dims[d]) reference = true;
        if (rank == 0 && !sum) reference = true;
    }
    int64_t key[64];
    int key_len = 0;
    pl_dnnl_prim *p = NULL;
    if (st == PL_OK && !reference) concat_key(n, t, mds, key, &key_len);
    if (st == PL_OK && !reference) {
        p = pl_dnnl_find(xn, key, key_len, &mds[0]);
        if (!p) {
            p = pl_dnnl_prim_new(key, key_len, &mds[0]);
            if (!p) st = PL_ERR_NOMEM;
        }
        if (p && !p->prim) {
            p->rank = t[0]->rank;
            memcpy(p->out_dims, t[0]->dims, (size_t)p->rank * sizeof *p->out_dims);
            for (int i = 1; i < n && !sum; i++) p->out_dims[axis] += t[i]->dims[axis];
            st = make_prim(p, n, mds, (int)axis, blocked);
            if (st == PL_OK) {
                pl_dnnl_add(xn, p, &p);
            } else {
                pl_dnnl_prim_free(p);
                p = NULL;
                if (st == PL_ERR_UNSUPPORTED) {
                    pl_err_clear();
                    st = PL_OK;
                    reference = true;
                }
            }
        }
    }
    if (st == PL_OK && reference) {
        st = pl_tactic_reference.run(r, xn);
    } else if (st == PL_OK) {
        void *dst;
        st = pl_xrun_dnnl_out(r, xn, 0, &p->dst_md, PL_DT_FLOAT, p->rank, p->out_dims, &dst);
        if (st == PL_OK) st = exec_multi(r, p, n, mds, data, dst);
    }
    free(mds);
    free(data);
    free(t);
    return st;
}

const pl_tactic pl_tactic_dnnl_concat = {.name = "onednn:concat", .accepts = concat_accepts, .run = concat_run,
                                         .blocked_io = true};
