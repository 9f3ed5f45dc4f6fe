/* window.c - sliding-window geometry shared by Conv, ConvTranspose and the pooling ops:
 * strides, dilations and pads from attributes, and the output grid from auto_pad. */
#include "ops.h"

#include <string.h>

pl_status pl_attr_ints_exact(const pl_node *node, const char *name, int count, int64_t dflt,
                             int64_t min, int64_t *out) {
    int n = 0;
    const int64_t *v = pl_attr_ints(node, name, &n);
    if (!v) {
        for (int i = 0; i < count; i++) out[i] = dflt;
        return PL_OK;
    }
    if (n != count)
        return pl_err(PL_ERR_INVALID, "attribute '%s' has %d values, expected %d", name, n, count);
    for (int i = 0; i < n; i++) {
        if (v[i] < min)
            return pl_err(PL_ERR_INVALID, "attribute '%s'[%d] is %lld, must be >= %lld", name, i,
                          (long long)v[i], (long long)min);
        out[i] = v[i];
    }
    return PL_OK;
}

pl_status pl_window_read_attrs(const pl_node *node, pl_window *g) {
    int64_t pads[2 * PL_MAX_RANK];
    PL_TRY(pl_attr_ints_exact(node, "strides", g->nd, 1, 1, g->stride));
    PL_TRY(pl_attr_ints_exact(node, "dilations", g->nd, 1, 1, g->dil));
    PL_TRY(pl_attr_ints_exact(node, "pads", 2 * g->nd, 0, 0, pads));
    for (int i = 0; i < g->nd; i++) g->pad_b[i] = pads[i], g->pad_e[i] = pads[g->nd + i];
    return PL_OK;
}

pl_status pl_window_output(const pl_node *node, pl_window *g, bool ceil_mode) {
    const char *ap = pl_attr_string(node, "auto_pad", "NOTSET");
    bool same_upper = !strcmp(ap, "SAME_UPPER"), same_lower = !strcmp(ap, "SAME_LOWER");
    bool valid = !strcmp(ap, "VALID");
    if (!same_upper && !same_lower && !valid && strcmp(ap, "NOTSET") && ap[0])
        return pl_err(PL_ERR_INVALID, "attribute 'auto_pad' has unknown value '%s'", ap);
    for (int i = 0; i < g->nd; i++) {
        int64_t ek = (g->k[i] - 1) * g->dil[i] + 1, s = g->stride[i];
        if (same_upper || same_lower) {
            g->out[i] = (g->in[i] + s - 1) / s;
            int64_t total = (g->out[i] - 1) * s + ek - g->in[i];
            if (total < 0) total = 0;
            g->pad_b[i] = same_upper ? total / 2 : total - total / 2;
            g->pad_e[i] = total - g->pad_b[i];
            continue;
        }
        if (valid) g->pad_b[i] = g->pad_e[i] = 0;
        int64_t span = g->in[i] + g->pad_b[i] + g->pad_e[i] - ek;
        if (span < 0)
            return pl_err(PL_ERR_INVALID, "spatial dim %d: input %lld with pads %lld+%lld is smaller "
                          "than the dilated kernel %lld", i, (long long)g->in[i],
                          (long long)g->pad_b[i], (long long)g->pad_e[i], (long long)ek);
        g->out[i] = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
        /* with ceil_mode a window may not start inside the end padding */
        if (ceil_mode && (g->out[i] - 1) * s >= g->in[i] + g->pad_b[i]) g->out[i]--;
    }
    return PL_OK;
}
