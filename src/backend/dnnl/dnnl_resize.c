/* dnnl_resize.c - Resize on oneDNN's resampling primitive, only where its sampling is
 * ONNX's exactly. oneDNN samples output coordinate y of an axis at (y + 0.5) * in / out - 0.5
 * (linear: the two neighbours clamped to the edge; nearest: rounded half away from zero).
 * That is ONNX's half_pixel transform (and pytorch_half_pixel where no resized axis has one
 * output element) when out = in * scale exactly. For nearest it is also every nearest_mode
 * that rounds (and asymmetric + floor) when each axis grows by a whole factor, since then no
 * coordinate falls on a tie. Batch and channel axes must not change; scales or sizes must be
 * constants. Everything else (cubic, align_corners, antialias, axes, ...) stays on the
 * reference. */
#include "dnnl_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct resize_map {
    bool linear, asymmetric, pytorch;
    const pl_tensor *scales, *sizes; /* constants; one of them */
} resize_map;

static const pl_tensor *nonempty_const(const pl_xgraph *xg, const pl_xnode *xn, int i, bool *dynamic) {
    if (i >= xn->n_in || xn->in[i] < 0) return NULL;
    const pl_tensor *t = xg->consts[xn->in[i]];
    if (!t) {
        *dynamic = true;
        return NULL;
    }
    return t->kind == PL_KIND_TENSOR && t->numel > 0 ? t : NULL;
}

static bool resize_map_of(const pl_xgraph *xg, const pl_xnode *xn, resize_map *m) {
    const pl_node *n = xn->node;
    memset(m, 0, sizeof *m);
    if (n->domain[0] || strcmp(xn->op, "Resize") || n->opset < 11 || xn->n_in < 3 || xn->n_in > 4 || xn->n_out != 1 ||
        xn->in[0] < 0)
        return false;
    if (n->opset >= 18 && (pl_attr_int(n, "antialias", 0) || pl_node_attr(n, "axes") ||
                           strcmp(pl_attr_string(n, "keep_aspect_ratio_policy", "stretch"), "stretch")))
        return false;
    const char *mode = pl_attr_string(n, "mode", "nearest");
    const char *ct = pl_attr_string(n, "coordinate_transformation_mode", "half_pixel");
    const char *nm = pl_attr_string(n, "nearest_mode", "round_prefer_floor");
    m->linear = !strcmp(mode, "linear");
    if (!m->linear && strcmp(mode, "nearest")) return false;
    m->asymmetric = !strcmp(ct, "asymmetric");
    m->pytorch = !strcmp(ct, "pytorch_half_pixel");
    if (m->asymmetric) {
        if (m->linear || strcmp(nm, "floor")) return false;
    } else if (!strcmp(ct, "half_pixel") || m->pytorch) {
        if (!m->linear && strcmp(nm, "round_prefer_floor") && strcmp(nm, "round_prefer_ceil")) return false;
    } else {
        return false;
    }
    bool dynamic = false;
    m->scales = nonempty_const(xg, xn, 2, &dynamic);
    m->sizes = nonempty_const(xg, xn, 3, &dynamic);
    if (dynamic || !m->scales == !m->sizes) return false;
    if (m->scales && m->scales->dtype != PL_DT_FLOAT) return false;
    if (m->sizes && m->sizes->dtype != PL_DT_INT64) return false;
    return pl_dnnl_maybe_float(xg, xn->in[0]);
}

static bool resize_accepts(const pl_xgraph *xg, const pl_xnode *xn) {
    resize_map m;
    return resize_map_of(xg, xn, &m);
}

/* Output dims of x under m; false when oneDNN's sampling is not ONNX's here. */
static bool resize_geometry(const resize_map *m, const pl_tensor *x, int64_t *out, float *factors) {
    int rank = x->rank;
    if (rank < 3 || rank > 5) return false;
    const pl_tensor *c = m->scales ? m->scales : m->sizes;
    if (c->numel != rank) return false;
    for (int d = 0; d < rank; d++) {
        int64_t in = x->dims[d];
        if (m->scales) {
            double s = pl_get_f64(c, d);
            if (!(s > 0) || !(s * (double)in < 1e15)) return false;
            double o = floor(s * (double)in);
            if (o != s * (double)in) return false; /* ONNX samples by `scale`, oneDNN by out / in */
            out[d] = (int64_t)o;
        } else {
            out[d] = pl_get_i64(c, d);
        }
        if (in <= 0 || out[d] <= 0) return false;
        if (d < 2) {
            if (out[d] != in) return false;
            continue;
        }
        if (!m->linear && out[d] % in) return false; /* whole upsampling factors only */
        if (m->pytorch && out[d] == 1 && in != 1) return false;
        factors[d - 2] = (float)((double)out[d] / (double)in);
    }
    return true;
}

static pl_status resize_run(pl_xrun *r, pl_xnode *xn) {
    dnnl_memory_desc_t xmd;
    void *xd;
    const pl_tensor *x;
    PL_DNNL_IN_OR_REFERENCE(r, xn, 0, &xmd, &xd, &x);
    resize_map m;
    int64_t out[PL_MAX_RANK];
    float factors[3];
    if (x->kind != PL_KIND_TENSOR || x->dtype != PL_DT_FLOAT || x->numel == 0 || !resize_map_of(pl_xrun_graph(r), xn, &m) ||
        !resize_geometry(&m, x, out, factors))
        return pl_tactic_reference.run(r, xn);
    pl_dnnl_prim *p;
    PL_TRY(pl_dnnl_lookup(r, xn, &xmd, &p));
    if (!p->prim) {
        p->rank = x->rank;
        memcpy(p->out_dims, out, (size_t)x->rank * sizeof *out);
        dnnl_dims_t dd;
        for (int i = 0; i < x->rank; i++) dd[i] = out[i];
        dnnl_memory_desc_t dmd;
        dnnl_resampling_desc_t d;
        pl_status st = pl_dnnl_check(dnnl_memory_desc_init_by_tag(&dmd, x->rank, dd, dnnl_f32, dnnl_format_tag_any), "resampling dst");
        if (st == PL_OK)
            st = pl_dnnl_check(dnnl_resampling_forward_desc_init(&d, dnnl_forward_inference,
                                                                 m.linear ? dnnl_resampling_linear : dnnl_resampling_nearest,
                                                                 factors, &xmd, &dmd),
                               "resampling descriptor");
        if (st == PL_OK) st = pl_dnnl_prim_create_plain(p, &d, "resampling");
        if (st != PL_OK) {
            pl_dnnl_prim_free(p);
            return pl_dnnl_or_reference(r, xn, st);
        }
        pl_dnnl_add(xn, p, &p);
    }
    void *dst;
    PL_TRY(pl_xrun_dnnl_out(r, xn, 0, &p->dst_md, PL_DT_FLOAT, p->rank, p->out_dims, &dst));
    pl_dnnl_arg a[2] = {{DNNL_ARG_SRC, &xmd, xd}, {DNNL_ARG_DST, &p->dst_md, dst}};
    return pl_dnnl_prim_exec(r, p, 2, a, dst);
}

const pl_tactic pl_tactic_dnnl_resize = {.name = "onednn:resize", .accepts = resize_accepts, .run = resize_run,
                                         .blocked_io = true};
