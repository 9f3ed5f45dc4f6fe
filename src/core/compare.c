/* compare.c - tensor comparison with numpy.isclose semantics (the conformance comparer). */
#include "core.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int pl_tensor_compare(const pl_tensor *e, const pl_tensor *g, double rtol, double atol, char *why,
                      size_t n) {
    char tmp[8];
    if (!why) {
        why = tmp;
        n = sizeof tmp;
    }
    why[0] = 0;
    if (e->kind != g->kind) {
        snprintf(why, n, "kind differs (expected %s)",
                 e->kind == PL_KIND_SEQUENCE ? "sequence" : e->kind == PL_KIND_NONE ? "empty optional" : "tensor");
        return 0;
    }
    if (e->kind == PL_KIND_NONE) return 1;
    if (e->kind == PL_KIND_SEQUENCE) {
        if (e->seq_len != g->seq_len) {
            snprintf(why, n, "sequence length %d, expected %d", g->seq_len, e->seq_len);
            return 0;
        }
        for (int i = 0; i < e->seq_len; i++) {
            char inner[256];
            if (!pl_tensor_compare(e->seq[i], g->seq[i], rtol, atol, inner, sizeof inner)) {
                snprintf(why, n, "sequence item %d: %s", i, inner);
                return 0;
            }
        }
        return 1;
    }
    char se[256], sg[256];
    if (e->rank != g->rank || memcmp(e->dims, g->dims, (size_t)e->rank * sizeof e->dims[0])) {
        snprintf(why, n, "shape %s, expected %s", pl_dims_str(g->rank, g->dims, sg, sizeof sg),
                 pl_dims_str(e->rank, e->dims, se, sizeof se));
        return 0;
    }
    if (e->dtype != g->dtype) {
        snprintf(why, n, "type %s, expected %s", pl_dtype_name(g->dtype), pl_dtype_name(e->dtype));
        return 0;
    }
    if (e->dtype == PL_DT_STRING) {
        for (int64_t i = 0; i < e->numel; i++) {
            const char *a = ((char *const *)e->data)[i], *b = ((char *const *)g->data)[i];
            if (strcmp(a ? a : "", b ? b : "")) {
                snprintf(why, n, "string %lld is '%.40s', expected '%.40s'", (long long)i, b ? b : "", a ? a : "");
                return 0;
            }
        }
        return 1;
    }
    if (!pl_dtype_is_float(e->dtype)) {
        for (int64_t i = 0; i < e->numel; i++) {
            int64_t a = pl_get_i64(e, i), b = pl_get_i64(g, i);
            if (a != b) {
                snprintf(why, n, "element %lld is %lld, expected %lld", (long long)i, (long long)b, (long long)a);
                return 0;
            }
        }
        return 1;
    }
    int64_t bad = -1, nbad = 0;
    double worst = 0;
    for (int64_t i = 0; i < e->numel; i++) {
        double a = pl_get_f64(e, i), b = pl_get_f64(g, i);
        if (isnan(a) && isnan(b)) continue;
        if (isinf(a) && a == b) continue;
        double d = fabs(a - b);
        if (!(d <= atol + rtol * fabs(a))) {
            nbad++;
            if (bad < 0 || d > worst || isnan(d)) {
                bad = i;
                worst = isnan(d) ? INFINITY : d;
            }
        }
    }
    if (nbad) {
        snprintf(why, n, "%lld of %lld elements differ; worst at %lld: %.9g, expected %.9g (abs err %.3g)",
                 (long long)nbad, (long long)e->numel, (long long)bad, pl_get_f64(g, bad), pl_get_f64(e, bad), worst);
        return 0;
    }
    return 1;
}
