/* onnx_testdata.c - ONNX test-data folders: DIR/test_data_set_N/input_0.pb is a sample and the
 * argmax of its output_0.pb the expected class. Inputs are read when the sample is needed. */
#include "data.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tests_state {
    char **inputs; /* input_0.pb path per sample */
    int64_t n;
} tests_state;

static void tests_close(pl_dataset *ds) {
    tests_state *t = ds->state;
    if (!t) return;
    for (int64_t i = 0; i < t->n; i++) free(t->inputs[i]);
    free(t->inputs);
    free(t);
}

static pl_status tests_read(pl_dataset *ds, int64_t index, float *dst) {
    tests_state *t = ds->state;
    pl_tensor *x = NULL;
    PL_TRY(pl_tensor_load_pb(t->inputs[index], &x));
    pl_status st = PL_OK;
    if (x->dtype != PL_DT_FLOAT || x->numel != ds->sample_numel)
        st = pl_err(PL_ERR_INVALID, "%s: a %s tensor of %lld values, but the model takes %lld floats per sample",
                    t->inputs[index], pl_dtype_name(x->dtype), (long long)x->numel, (long long)ds->sample_numel);
    else memcpy(dst, x->data, sizeof(float) * (size_t)x->numel);
    pl_tensor_destroy(x);
    return st;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

pl_status pl_dataset_open_onnx_tests(pl_dataset *ds, const char *dir) {
    tests_state *t = calloc(1, sizeof *t);
    if (!t) return pl_err(PL_ERR_NOMEM, "out of memory opening %s", dir);
    ds->state = t;
    ds->close = tests_close;
    ds->read = tests_read;
    DIR *d = opendir(dir);
    if (!d) return pl_err(PL_ERR_IO, "%s: cannot open the folder", dir);
    int64_t cap = 0;
    char path[4096];
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "test_data_set_", 14)) continue;
        if (t->n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(t->inputs, sizeof *grown * (size_t)cap);
            if (!grown) {
                closedir(d);
                return pl_err(PL_ERR_NOMEM, "out of memory listing %s", dir);
            }
            t->inputs = grown;
        }
        snprintf(path, sizeof path, "%s/%s/input_0.pb", dir, e->d_name);
        if (!(t->inputs[t->n] = strdup(path))) {
            closedir(d);
            return pl_err(PL_ERR_NOMEM, "out of memory listing %s", dir);
        }
        t->n++;
    }
    closedir(d);
    qsort(t->inputs, (size_t)t->n, sizeof *t->inputs, cmp_str);
    ds->labels = calloc((size_t)t->n + 1, sizeof *ds->labels);
    if (!ds->labels) return pl_err(PL_ERR_NOMEM, "out of memory listing %s", dir);
    for (int64_t i = 0; i < t->n; i++) {
        snprintf(path, sizeof path, "%.*s/output_0.pb", (int)(strlen(t->inputs[i]) - strlen("/input_0.pb")), t->inputs[i]);
        pl_tensor *y = NULL;
        PL_TRY(pl_tensor_load_pb(path, &y));
        if (y->numel < 1 || !(pl_dtype_is_float(y->dtype) || pl_dtype_is_int(y->dtype))) {
            pl_tensor_destroy(y);
            return pl_err(PL_ERR_INVALID, "%s: the expected output must hold numbers to take the argmax of", path);
        }
        int64_t best = 0;
        for (int64_t j = 1; j < y->numel; j++)
            if (pl_get_f64(y, j) > pl_get_f64(y, best)) best = j;
        ds->labels[i] = best;
        pl_tensor_destroy(y);
    }
    ds->count = t->n;
    if (t->n > 0) {
        pl_tensor *x = NULL;
        PL_TRY(pl_tensor_load_pb(t->inputs[0], &x));
        /* a leading batch dim of 1 is the sample's batch; fit the rest */
        int skip = x->rank > ds->spec.rank && x->dims[0] == 1 ? 1 : 0;
        pl_status st = pl_sample_fit(&ds->spec, x->rank - skip, x->dims + skip, t->inputs[0]);
        pl_tensor_destroy(x);
        PL_TRY(st);
    }
    snprintf(ds->desc, sizeof ds->desc, "ONNX test data %s: %lld test_data_set_* folders; input_0.pb used as "
             "it is, label = argmax of output_0.pb", dir, (long long)t->n);
    return PL_OK;
}
