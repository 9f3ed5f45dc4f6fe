/* dataset.c - picks the reader for a dataset name and holds what the readers share:
 * normalisation choice, fitting a model's open dims to the data. */
#include "data.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int pl_sample_channels(const pl_sample_spec *spec) {
    if (spec->rank != 3) return 1;
    int64_t c = spec->nhwc ? spec->dims[2] : spec->dims[0];
    return c > 0 && c <= 4 ? (int)c : 1;
}

/* Parses "a" or "a,b,c" into v (at most 4); returns the count, 0 when malformed. */
static int parse_floats(const char *s, float *v) {
    int n = 0;
    while (*s && n < 4) {
        char *end;
        errno = 0;
        double x = strtod(s, &end);
        if (end == s || errno) return 0;
        v[n++] = (float)x;
        while (*end == ' ') end++;
        if (*end == ',') end++;
        else if (*end) return 0;
        s = end;
    }
    return *s ? 0 : n;
}

static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};

pl_status pl_norm_resolve(pl_sample_spec *spec, const pl_norm_sources *norm, int channels,
                          bool imagenet, char *buf, size_t size) {
    spec->n_norm = 0;
    spec->norm_from = NULL;
    if (norm && norm->n > 0 && norm->mean && norm->std) {
        if (norm->n != 1 && norm->n != channels)
            return pl_err(PL_ERR_INVALID, "mean/std give %d values, but the samples have %d channel(s)",
                          norm->n, channels);
        spec->n_norm = norm->n;
        memcpy(spec->mean, norm->mean, sizeof(float) * (size_t)norm->n);
        memcpy(spec->std, norm->std, sizeof(float) * (size_t)norm->n);
        spec->norm_from = "settings";
    } else if (norm && norm->meta_mean && norm->meta_std) {
        float m[4], s[4];
        int nm = parse_floats(norm->meta_mean, m), ns = parse_floats(norm->meta_std, s);
        if (nm == 0 || nm != ns || (nm != 1 && nm != channels))
            return pl_err(PL_ERR_INVALID,
                          "model metadata normalize_mean '%s' / normalize_std '%s' do not fit %d channel(s)",
                          norm->meta_mean, norm->meta_std, channels);
        spec->n_norm = nm;
        memcpy(spec->mean, m, sizeof m);
        memcpy(spec->std, s, sizeof s);
        spec->norm_from = "model metadata";
    } else if (imagenet && channels == 3) {
        spec->n_norm = 3;
        memcpy(spec->mean, imagenet_mean, sizeof imagenet_mean);
        memcpy(spec->std, imagenet_std, sizeof imagenet_std);
        spec->norm_from = "ImageNet defaults";
    }
    for (int c = 0; c < spec->n_norm; c++)
        if (!(spec->std[c] != 0.0f))
            return pl_err(PL_ERR_INVALID, "std[%d] is zero (from %s)", c, spec->norm_from);
    if (spec->n_norm == 0) {
        snprintf(buf, size, "pixels/255 to [0,1], no normalisation");
        return PL_OK;
    }
    size_t used = (size_t)snprintf(buf, size, "pixels/255 to [0,1], then (x-mean)/std with mean");
    for (int c = 0; c < spec->n_norm && used < size; c++)
        used += (size_t)snprintf(buf + used, size - used, "%s%g", c ? "," : " ", (double)spec->mean[c]);
    if (used < size) used += (size_t)snprintf(buf + used, size - used, " std");
    for (int c = 0; c < spec->n_norm && used < size; c++)
        used += (size_t)snprintf(buf + used, size - used, "%s%g", c ? "," : " ", (double)spec->std[c]);
    if (used < size) snprintf(buf + used, size - used, " (from %s)", spec->norm_from);
    return PL_OK;
}

static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static bool has_test_sets(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return false;
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d));)
        found = !strncmp(e->d_name, "test_data_set_", 14);
    closedir(d);
    return found;
}

/* The labels file beside an IDX images file: "...images-idx3-ubyte..." -> "...labels-idx1-ubyte...". */
static pl_status idx_labels_path(const char *images, char *out, size_t size) {
    const char *base = strrchr(images, '/');
    base = base ? base + 1 : images;
    const char *at = strstr(base, "images-idx3-ubyte");
    if (!at) at = strstr(base, "images.idx3-ubyte");
    if (!at)
        return pl_err(PL_ERR_INVALID,
                      "%s: not a dataset name, a folder, or an IDX images file named *images-idx3-ubyte[.gz] "
                      "(its labels are looked for beside it)", images);
    snprintf(out, size, "%.*slabels-idx1-ubyte%s", (int)(at - images), images, at + 17);
    if (!is_file(out))
        return pl_err(PL_ERR_IO, "%s: the labels file for %s is missing", out, images);
    return PL_OK;
}

pl_status pl_dataset_open(const char *name, const pl_sample_spec *spec,
                          const pl_norm_sources *norm, pl_dataset **out) {
    *out = NULL;
    if (!name || !name[0]) return pl_err(PL_ERR_INVALID, "no dataset given");
    pl_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return pl_err(PL_ERR_NOMEM, "out of memory opening %s", name);
    ds->spec = *spec;
    char a[4096], b[4096];
    pl_status st;
    struct stat sb;
    if (!strcmp(name, "fashion-mnist")) {
        snprintf(a, sizeof a, "%s/t10k-images-idx3-ubyte.gz", pl_fashion_mnist_dir());
        snprintf(b, sizeof b, "%s/t10k-labels-idx1-ubyte.gz", pl_fashion_mnist_dir());
        if (!is_file(a) || !is_file(b))
            st = pl_err(PL_ERR_IO, "%s: missing (install Debian's dataset-fashion-mnist, or set "
                        "PL_FASHION_MNIST_DIR)", is_file(a) ? b : a);
        else st = pl_dataset_open_idx(ds, a, b, norm);
    } else if (stat(name, &sb) != 0) {
        st = pl_err(PL_ERR_IO, "%s: no such dataset file or folder (%s)", name, strerror(errno));
    } else if (S_ISREG(sb.st_mode)) {
        st = idx_labels_path(name, b, sizeof b);
        if (st == PL_OK) st = pl_dataset_open_idx(ds, name, b, norm);
    } else if (snprintf(a, sizeof a, "%s/inputs.npy", name) > 0 && is_file(a)) {
        snprintf(b, sizeof b, "%s/labels.npy", name);
        st = is_file(b) ? pl_dataset_open_npy(ds, a, b, norm)
                        : pl_err(PL_ERR_IO, "%s: missing (the labels for %s)", b, a);
    } else if (snprintf(a, sizeof a, "%s/x.npy", name) > 0 && is_file(a)) {
        snprintf(b, sizeof b, "%s/y.npy", name);
        st = is_file(b) ? pl_dataset_open_npy(ds, a, b, norm)
                        : pl_err(PL_ERR_IO, "%s: missing (the labels for %s)", b, a);
    } else if (has_test_sets(name)) {
        st = pl_dataset_open_onnx_tests(ds, name);
    } else {
        st = pl_dataset_open_image_folder(ds, name, norm);
    }
    if (st == PL_OK && ds->count == 0) st = pl_err(PL_ERR_INVALID, "%s: the dataset holds no samples", name);
    if (st != PL_OK) {
        pl_dataset_close(ds);
        return st;
    }
    ds->sample_numel = 1;
    for (int d = 0; d < ds->spec.rank; d++) ds->sample_numel *= ds->spec.dims[d];
    *out = ds;
    return PL_OK;
}

void pl_dataset_close(pl_dataset *ds) {
    if (!ds) return;
    if (ds->close) ds->close(ds);
    free(ds->labels);
    free(ds);
}

pl_status pl_sample_fit(pl_sample_spec *spec, int rank, const int64_t *dims, const char *what) {
    for (int k = 1; k <= spec->rank; k++) {
        int64_t *d = &spec->dims[spec->rank - k];
        if (*d < 0) *d = k <= rank ? dims[rank - k] : 1;
    }
    int64_t want = 1, have = 1;
    for (int d = 0; d < spec->rank; d++) want *= spec->dims[d];
    for (int d = 0; d < rank; d++) have *= dims[d];
    if (want != have) {
        char m[128], s[128];
        pl_dims_str(spec->rank, spec->dims, m, sizeof m);
        pl_dims_str(rank, dims, s, sizeof s);
        return pl_err(PL_ERR_INVALID, "%s: samples are %s (%lld values) but the model input takes %s "
                      "(%lld values) per sample", what, s, (long long)have, m, (long long)want);
    }
    return PL_OK;
}

pl_status pl_labels_from_tensor(const pl_tensor *t, const char *path, int64_t **out, int64_t *count) {
    *out = NULL;
    *count = 0;
    if (t->kind != PL_KIND_TENSOR || (t->rank != 1 && t->rank != 2) || !(pl_dtype_is_int(t->dtype) ||
        pl_dtype_is_float(t->dtype)))
        return pl_err(PL_ERR_INVALID, "%s: labels must be a rank-1 (class indices) or rank-2 (scores) "
                      "numeric array, got %s of rank %d", path, pl_dtype_name(t->dtype), t->rank);
    int64_t n = t->dims[0], width = t->rank == 2 ? t->dims[1] : 1;
    int64_t *lab = malloc(sizeof *lab * (size_t)(n > 0 ? n : 1));
    if (!lab) return pl_err(PL_ERR_NOMEM, "%s: out of memory for %lld labels", path, (long long)n);
    for (int64_t i = 0; i < n; i++) {
        if (t->rank == 2) {
            int64_t best = 0;
            for (int64_t j = 1; j < width; j++)
                if (pl_get_f64(t, i * width + j) > pl_get_f64(t, i * width + best)) best = j;
            lab[i] = best;
            continue;
        }
        double v = pl_get_f64(t, i);
        if (!(v >= 0) || v != (double)(int64_t)v) {
            free(lab);
            return pl_err(PL_ERR_INVALID, "%s: label %lld is %g, not a class index >= 0", path, (long long)i, v);
        }
        lab[i] = (int64_t)v;
    }
    *out = lab;
    *count = n;
    return PL_OK;
}

typedef struct raw_state {
    pl_tensor *inputs;
    int64_t plane; /* values per channel of a CHW sample */
    int channels;
} raw_state;

static pl_status raw_read(pl_dataset *ds, int64_t index, float *dst) {
    raw_state *r = ds->state;
    int64_t n = ds->sample_numel, base = index * n;
    if (r->inputs->dtype == PL_DT_UINT8) {
        const uint8_t *src = (const uint8_t *)r->inputs->data + base;
        for (int64_t i = 0; i < n; i++) {
            int c = r->channels == 1 ? 0 : ds->spec.nhwc ? (int)(i % r->channels) : (int)(i / r->plane);
            dst[i] = pl_norm_pixel(&ds->spec, c, src[i]);
        }
    } else if (r->inputs->dtype == PL_DT_FLOAT) {
        memcpy(dst, (const float *)r->inputs->data + base, sizeof(float) * (size_t)n);
    } else {
        const double *src = (const double *)r->inputs->data + base;
        for (int64_t i = 0; i < n; i++) dst[i] = (float)src[i];
    }
    return PL_OK;
}

static void raw_close(pl_dataset *ds) {
    raw_state *r = ds->state;
    if (r) pl_tensor_destroy(r->inputs);
    free(r);
}

pl_status pl_dataset_set_raw(pl_dataset *ds, pl_tensor *inputs, const pl_tensor *labels,
                             const char *kind, const char *inputs_path, const char *labels_path,
                             const pl_norm_sources *norm) {
    raw_state *r = calloc(1, sizeof *r);
    if (!r) {
        pl_tensor_destroy(inputs);
        return pl_err(PL_ERR_NOMEM, "out of memory opening %s", inputs_path);
    }
    r->inputs = inputs;
    ds->state = r;
    ds->close = raw_close;
    ds->read = raw_read;
    if (inputs->kind != PL_KIND_TENSOR || inputs->rank < 1 ||
        (inputs->dtype != PL_DT_UINT8 && inputs->dtype != PL_DT_FLOAT && inputs->dtype != PL_DT_DOUBLE))
        return pl_err(PL_ERR_UNSUPPORTED, "%s: samples must be uint8 pixels or float/double values, got %s",
                      inputs_path, pl_dtype_name(inputs->dtype));
    int64_t n_labels = 0;
    PL_TRY(pl_labels_from_tensor(labels, labels_path, &ds->labels, &n_labels));
    if (n_labels != inputs->dims[0])
        return pl_err(PL_ERR_INVALID, "%s: %lld labels for %lld samples in %s", labels_path,
                      (long long)n_labels, (long long)inputs->dims[0], inputs_path);
    ds->count = n_labels;
    PL_TRY(pl_sample_fit(&ds->spec, inputs->rank - 1, inputs->dims + 1, inputs_path));
    r->channels = pl_sample_channels(&ds->spec);
    r->plane = ds->spec.rank == 3 ? ds->spec.dims[1] * ds->spec.dims[2] : 1;
    char how[256];
    if (inputs->dtype == PL_DT_UINT8) PL_TRY(pl_norm_resolve(&ds->spec, norm, r->channels, false, how, sizeof how));
    else snprintf(how, sizeof how, "%s values used as they are (no scaling or normalisation)",
                  pl_dtype_name(inputs->dtype));
    char shape[128];
    pl_dims_str(inputs->rank - 1, inputs->dims + 1, shape, sizeof shape);
    snprintf(ds->desc, sizeof ds->desc, "%s %s + %s: %lld samples of %s %s; %s", kind, inputs_path,
             labels_path, (long long)ds->count, pl_dtype_name(inputs->dtype), shape, how);
    return PL_OK;
}
