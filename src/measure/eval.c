/* eval.c - accuracy of a classifier on a labelled dataset: top-1 / top-5 with Wilson score 95%
 * intervals and the confusion matrix, feeding batches of preprocessed samples. */
#include "eval.h"

#include "../core/core.h"
#include "../data/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define Z95 1.959963984540054

void pl_wilson_interval(int64_t successes, int64_t n, double z, double *lo, double *hi) {
    if (n <= 0) {
        *lo = 0;
        *hi = 1;
        return;
    }
    double nn = (double)n, p = (double)successes / nn, z2 = z * z;
    double denom = 1 + z2 / nn;
    double centre = (p + z2 / (2 * nn)) / denom;
    double half = z / denom * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    *lo = fmax(0.0, centre - half);
    *hi = fmin(1.0, centre + half);
}

int64_t pl_score_rank(const double *scores, int64_t n, int64_t label) {
    double s = scores[label];
    int64_t rank = 0;
    for (int64_t j = 0; j < n; j++) {
        if (j == label) continue;
        double t = scores[j];
        if (isnan(s) ? (!isnan(t) || j < label) : (t > s || (t == s && j < label))) rank++;
    }
    return rank;
}

void pl_eval_settings_default(pl_eval_settings *s) {
    memset(s, 0, sizeof *s);
    s->batch = 1;
}

void pl_eval_result_destroy(pl_eval_result *r) {
    if (!r) return;
    free(r->confusion);
    free(r);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *metadata(const pl_model *model, const char *key) {
    for (int i = 0; i < pl_model_metadata_count(model); i++) {
        const char *k, *v;
        if (pl_model_metadata_get(model, i, &k, &v) == PL_OK && !strcmp(k, key)) return v;
    }
    return NULL;
}

/* The sample spec from the model's only input: dims without the batch, layout chosen. */
static pl_status sample_spec(const pl_model *model, const pl_eval_settings *s, pl_sample_spec *spec,
                             int64_t *fixed_batch) {
    memset(spec, 0, sizeof *spec);
    int n_in = pl_model_input_count(model);
    if (n_in != 1)
        return pl_err(PL_ERR_UNSUPPORTED, "eval feeds one input per sample; the model takes %d", n_in);
    pl_io_info in;
    PL_TRY(pl_model_input_info(model, 0, &in));
    if (in.kind != PL_VALUE_TENSOR || in.dtype != PL_DT_FLOAT)
        return pl_err(PL_ERR_UNSUPPORTED, "eval feeds float tensors; input '%s' is %s", in.name,
                      in.kind == PL_VALUE_TENSOR ? pl_dtype_name(in.dtype) : "not a tensor");
    if (in.rank < 2)
        return pl_err(PL_ERR_INVALID, "input '%s' has rank %d; eval needs [N, ...] (batch first)", in.name, in.rank);
    spec->rank = in.rank - 1;
    for (int d = 1; d < in.rank; d++) spec->dims[d - 1] = in.dims[d].value > 0 ? in.dims[d].value : -1;
    *fixed_batch = in.dims[0].value > 0 ? in.dims[0].value : 0;
    if (s->layout && s->layout[0]) {
        if (strcmp(s->layout, "NCHW") && strcmp(s->layout, "NHWC"))
            return pl_err(PL_ERR_INVALID, "layout must be NCHW or NHWC, not '%s'", s->layout);
        spec->nhwc = !strcmp(s->layout, "NHWC");
    } else if (spec->rank == 3) {
        bool c_first = spec->dims[0] == 1 || spec->dims[0] == 3;
        bool c_last = spec->dims[2] == 1 || spec->dims[2] == 3;
        spec->nhwc = !c_first && c_last;
    }
    spec->resize = s->resize;
    spec->crop = s->crop;
    return PL_OK;
}

static void progress_draw(int64_t done, int64_t total, double t0) {
    int width = 30, filled = (int)(width * done / (total ? total : 1));
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\reval [%s] %lld/%lld samples, %.1f s", bar, (long long)done, (long long)total, now_s() - t0);
    fflush(stderr);
}

typedef struct eval_run {
    pl_dataset *ds;
    pl_engine *engine;
    pl_context *ctx;
    pl_tensor *input;
    double *scores;
} eval_run;

/* Scores one batch's output against labels[first..first+m). */
static pl_status score_batch(pl_eval_result *r, pl_tensor *out, const char *out_name, const int64_t *labels,
                             int64_t first, int64_t m, int64_t batch, double **scores) {
    if (out->kind != PL_KIND_TENSOR || out->rank != 2 || out->dims[0] != batch || out->dims[1] < 1 ||
        !(pl_dtype_is_float(out->dtype) || pl_dtype_is_int(out->dtype))) {
        char d[128];
        pl_dims_str(out->rank, out->dims, d, sizeof d);
        return pl_err(PL_ERR_INVALID, "model output '%s' is %s %s; eval needs [N, classes] scores with N = %lld",
                      out_name, pl_dtype_name(out->dtype), d, (long long)batch);
    }
    int64_t c = out->dims[1];
    if (!r->confusion) {
        if (c > 100000) return pl_err(PL_ERR_INVALID, "model output '%s' has %lld classes (at most 100000)", out_name, (long long)c);
        r->n_classes = (int)c;
        r->confusion = calloc((size_t)(c * c), sizeof *r->confusion);
        *scores = malloc(sizeof **scores * (size_t)c);
        if (!r->confusion || !*scores) return pl_err(PL_ERR_NOMEM, "out of memory for a %lld-class confusion matrix", (long long)c);
    } else if (c != r->n_classes) {
        return pl_err(PL_ERR_INVALID, "model output '%s' changed from %d to %lld classes", out_name, r->n_classes, (long long)c);
    }
    for (int64_t i = 0; i < m; i++) {
        int64_t label = labels[first + i];
        if (label >= c)
            return pl_err(PL_ERR_INVALID, "sample %lld has label %lld, but the model output '%s' has %lld classes",
                          (long long)(first + i), (long long)label, out_name, (long long)c);
        for (int64_t j = 0; j < c; j++) (*scores)[j] = pl_get_f64(out, i * c + j);
        int64_t rank = pl_score_rank(*scores, c, label), pred = 0;
        for (int64_t j = 1; j < c; j++) /* argmax, first index winning ties, NaN lowest */
            if ((*scores)[j] > (*scores)[pred] || (isnan((*scores)[pred]) && !isnan((*scores)[j]))) pred = j;
        r->confusion[label * c + pred]++;
        if (rank == 0) r->top1_correct++;
        if (rank < 5) r->top5_correct++;
    }
    return PL_OK;
}

static pl_status eval_loop(const pl_model *model, const pl_eval_settings *s, eval_run *run, pl_eval_result *r,
                           int64_t fixed_batch) {
    pl_dataset *ds = run->ds;
    int64_t n = s->limit > 0 && s->limit < ds->count ? s->limit : ds->count;
    int64_t batch = fixed_batch ? fixed_batch : s->batch > 0 ? s->batch : 1;
    r->batch = batch;
    pl_build_options opt = {.backend = s->backend, .threads = s->threads};
    if (!s->engine) PL_TRY(pl_engine_build(model, &opt, &run->engine));
    PL_TRY(pl_context_create(s->engine ? s->engine : run->engine, &run->ctx));
    pl_io_info out_info;
    PL_TRY(pl_model_output_info(model, 0, &out_info));
    bool tty = s->progress && isatty(2);
    double t0 = now_s(), last_draw = 0;
    int64_t dims[PL_MAX_RANK + 1];
    for (int64_t first = 0; first < n; first += batch) {
        int64_t m = n - first < batch ? n - first : batch;
        int64_t rows = fixed_batch ? batch : m;
        if (!run->input || run->input->dims[0] != rows) {
            pl_tensor_destroy(run->input);
            run->input = NULL;
            dims[0] = rows;
            memcpy(dims + 1, ds->spec.dims, sizeof(int64_t) * (size_t)ds->spec.rank);
            PL_TRY(pl_tensor_create(PL_DT_FLOAT, ds->spec.rank + 1, dims, &run->input));
        }
        float *x = run->input->data;
        for (int64_t i = 0; i < m; i++) PL_TRY(ds->read(ds, first + i, x + i * ds->sample_numel));
        if (m < rows) memset(x + m * ds->sample_numel, 0, sizeof(float) * (size_t)((rows - m) * ds->sample_numel));
        pl_tensor *out = NULL;
        PL_TRY(pl_context_run(run->ctx, 1, &run->input, 1, &out));
        pl_status st = score_batch(r, out, out_info.name, ds->labels, first, m, rows, &run->scores);
        pl_tensor_destroy(out);
        PL_TRY(st);
        r->samples += m;
        if (tty && (now_s() - last_draw > 0.1 || r->samples == n)) {
            progress_draw(r->samples, n, t0);
            last_draw = now_s();
        }
    }
    if (tty) fputc('\n', stderr);
    return PL_OK;
}

pl_status pl_eval_run(const pl_model *model, const pl_eval_settings *settings, pl_eval_result **out) {
    *out = NULL;
    pl_eval_settings defaults;
    pl_eval_settings_default(&defaults);
    const pl_eval_settings *s = settings ? settings : &defaults;
    if (!model) return pl_err(PL_ERR_INVALID, "eval: no model");
    if (!s->dataset || !s->dataset[0]) return pl_err(PL_ERR_INVALID, "eval: no dataset given");
    if (s->limit < 0 || s->batch < 0 || s->resize < 0 || s->crop < 0)
        return pl_err(PL_ERR_INVALID, "eval: limit, batch, resize and crop must not be negative");
    if (s->n_channels_norm < 0 || s->n_channels_norm > 4 || (s->n_channels_norm && (!s->mean || !s->std)))
        return pl_err(PL_ERR_INVALID, "eval: mean/std need 1 to 4 values each (got %d)", s->n_channels_norm);
    pl_sample_spec spec;
    int64_t fixed_batch = 0;
    PL_TRY(sample_spec(model, s, &spec, &fixed_batch));
    pl_norm_sources norm = {.mean = s->mean, .std = s->std, .n = s->n_channels_norm,
                            .meta_mean = metadata(model, "normalize_mean"),
                            .meta_std = metadata(model, "normalize_std")};
    eval_run run = {0};
    pl_eval_result *r = calloc(1, sizeof *r);
    if (!r) return pl_err(PL_ERR_NOMEM, "eval: out of memory");
    double t0 = now_s();
    pl_status st = pl_dataset_open(s->dataset, &spec, &norm, &run.ds);
    if (st == PL_OK) st = eval_loop(model, s, &run, r, fixed_batch);
    if (st == PL_OK) {
        r->seconds = now_s() - t0;
        r->top1 = r->samples ? (double)r->top1_correct / (double)r->samples : 0;
        r->top5 = r->samples ? (double)r->top5_correct / (double)r->samples : 0;
        pl_wilson_interval(r->top1_correct, r->samples, Z95, &r->top1_lo, &r->top1_hi);
        pl_wilson_interval(r->top5_correct, r->samples, Z95, &r->top5_lo, &r->top5_hi);
        if (r->samples < run.ds->count)
            snprintf(r->dataset, sizeof r->dataset, "%s; first %lld evaluated (limit)", run.ds->desc,
                     (long long)r->samples);
        else snprintf(r->dataset, sizeof r->dataset, "%s", run.ds->desc);
    }
    pl_tensor_destroy(run.input);
    free(run.scores);
    pl_context_destroy(run.ctx);
    pl_engine_destroy(run.engine);
    pl_dataset_close(run.ds);
    if (st != PL_OK) {
        pl_eval_result_destroy(r);
        return st;
    }
    *out = r;
    return PL_OK;
}
