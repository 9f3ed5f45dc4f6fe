/* text.c - TfIdfVectorizer: counts n-grams (with skips) of integer or string tokens against a
 * pool, giving TF, IDF or TF-IDF features; StringNormalizer: stopword removal and case change
 * (ASCII letters; other bytes, UTF-8 included, pass unchanged). */
#include "ops.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct tfidf {
    int64_t min_n, max_n, max_skip;
    int mode; /* 0 TF, 1 IDF, 2 TFIDF */
    const int64_t *counts, *indexes, *pool_i;
    int n_counts, n_indexes, n_pool;
    char **pool_s;
    const float *weights;
    int n_weights;
    int64_t out_len;
} tfidf;

/* Token equality between input position `a` of x and pool item `p`. */
static bool token_eq(const tfidf *t, const pl_tensor *x, int64_t a, int p) {
    if (x->dtype == PL_DT_STRING) return !strcmp(((char *const *)x->data)[a], t->pool_s[p]);
    return pl_get_i64(x, a) == t->pool_i[p];
}

/* Adds the n-grams of one row [begin, begin+len) to out[0..out_len). */
static void count_row(const tfidf *t, const pl_tensor *x, int64_t begin, int64_t len, float *out) {
    for (int64_t n = t->min_n; n <= t->max_n; n++) {
        if (n < 1 || n > t->n_counts) continue;
        int64_t first = t->counts[n - 1];
        int64_t last = n < t->n_counts ? t->counts[n] : t->n_pool; /* pool items of the n-grams */
        if (first < 0 || last > t->n_pool || first >= last) continue;
        int64_t ngram_base = 0; /* ordinal of the first n-gram of this length among all n-grams */
        for (int64_t m = 1; m < n; m++) {
            int64_t f = t->counts[m - 1], l = m < t->n_counts ? t->counts[m] : t->n_pool;
            if (l > f) ngram_base += (l - f) / m;
        }
        int64_t skips = n == 1 ? 0 : t->max_skip;
        for (int64_t s = 0; s <= skips; s++)
            for (int64_t i = 0; i + (n - 1) * (s + 1) < len; i++)
                for (int64_t g = 0; first + (g + 1) * n <= last; g++) {
                    bool match = true;
                    for (int64_t k = 0; k < n && match; k++)
                        match = token_eq(t, x, begin + i + k * (s + 1), (int)(first + g * n + k));
                    if (!match) continue;
                    int64_t ord = ngram_base + g;
                    if (ord < t->n_indexes) out[t->indexes[ord]] += 1.0f;
                    break; /* pool n-grams are distinct */
                }
    }
}

static pl_status run_tfidf(pl_kernel_ctx *ctx) {
    const pl_node *n = ctx->node;
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    if (x->rank != 1 && x->rank != 2)
        return pl_err(PL_ERR_INVALID, "input X must be 1-D or 2-D, has rank %d", x->rank);
    if (x->dtype != PL_DT_STRING && x->dtype != PL_DT_INT32 && x->dtype != PL_DT_INT64)
        return pl_err(PL_ERR_UNSUPPORTED, "input X of type %s: TfIdfVectorizer takes string, int32 or int64",
                      pl_dtype_name(x->dtype));
    tfidf t = {0};
    t.min_n = pl_attr_int(n, "min_gram_length", 0);
    t.max_n = pl_attr_int(n, "max_gram_length", 0);
    t.max_skip = pl_attr_int(n, "max_skip_count", 0);
    const char *mode = pl_attr_string(n, "mode", "");
    t.mode = !strcmp(mode, "TF") ? 0 : !strcmp(mode, "IDF") ? 1 : !strcmp(mode, "TFIDF") ? 2 : -1;
    if (t.mode < 0) return pl_err(PL_ERR_INVALID, "attribute mode '%s' must be TF, IDF or TFIDF", mode);
    if (t.min_n < 1 || t.max_n < t.min_n || t.max_skip < 0)
        return pl_err(PL_ERR_INVALID, "gram lengths %lld..%lld or max_skip_count %lld are invalid",
                      (long long)t.min_n, (long long)t.max_n, (long long)t.max_skip);
    t.counts = pl_attr_ints(n, "ngram_counts", &t.n_counts);
    t.indexes = pl_attr_ints(n, "ngram_indexes", &t.n_indexes);
    t.pool_i = pl_attr_ints(n, "pool_int64s", &t.n_pool);
    t.weights = pl_attr_floats(n, "weights", &t.n_weights);
    const pl_attr *ps = pl_node_attr(n, "pool_strings");
    if (ps && ps->type == PL_ATTR_STRINGS) {
        t.pool_s = ps->strings;
        t.n_pool = ps->n;
    }
    if ((x->dtype == PL_DT_STRING) != (t.pool_s != NULL))
        return pl_err(PL_ERR_INVALID, "input X of type %s needs %s", pl_dtype_name(x->dtype),
                      t.pool_s ? "pool_int64s" : "pool_strings");
    for (int i = 0; i < t.n_counts; i++)
        if (t.counts[i] < 0 || t.counts[i] > t.n_pool || (i && t.counts[i] < t.counts[i - 1]))
            return pl_err(PL_ERR_INVALID, "attribute ngram_counts[%d] = %lld is out of order or past the pool",
                          i, (long long)t.counts[i]);
    for (int i = 0; i < t.n_indexes; i++) {
        if (t.indexes[i] < 0 || t.indexes[i] > (1 << 24))
            return pl_err(PL_ERR_INVALID, "attribute ngram_indexes[%d] = %lld is out of range", i, (long long)t.indexes[i]);
        if (t.indexes[i] + 1 > t.out_len) t.out_len = t.indexes[i] + 1;
    }
    if (t.weights && t.n_weights < t.out_len)
        return pl_err(PL_ERR_INVALID, "attribute weights has %d values, ngram_indexes needs %lld", t.n_weights,
                      (long long)t.out_len);
    int64_t rows = x->rank == 2 ? x->dims[0] : 1, len = x->rank == 2 ? x->dims[1] : x->dims[0];
    int64_t dims[2] = {rows, t.out_len};
    pl_tensor *y;
    if (x->rank == 2) PL_TRY(pl_out(ctx, 0, PL_DT_FLOAT, 2, dims, &y));
    else PL_TRY(pl_out(ctx, 0, PL_DT_FLOAT, 1, &dims[1], &y));
    float *out = y->data;
    for (int64_t r = 0; r < rows; r++) {
        float *row = out + r * t.out_len;
        count_row(&t, x, r * len, len, row);
        for (int64_t j = 0; j < t.out_len; j++) {
            float w = t.weights ? t.weights[j] : 1.0f;
            if (t.mode == 1) row[j] = row[j] > 0 ? w : 0.0f;
            else if (t.mode == 2) row[j] *= w;
        }
    }
    return PL_OK;
}

static bool is_stopword(const char *w, char *const *stop, int n, bool case_sensitive) {
    for (int i = 0; i < n; i++)
        if (case_sensitive ? !strcmp(w, stop[i]) : !strcasecmp(w, stop[i])) return true;
    return false;
}

static pl_status run_string_normalizer(pl_kernel_ctx *ctx) {
    const pl_node *n = ctx->node;
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    if (x->dtype != PL_DT_STRING) return pl_err(PL_ERR_INVALID, "input X must be string, not %s", pl_dtype_name(x->dtype));
    if (!(x->rank == 1 || (x->rank == 2 && x->dims[0] == 1)))
        return pl_err(PL_ERR_INVALID, "input X must have shape [C] or [1, C]");
    const char *action = pl_attr_string(n, "case_change_action", "NONE");
    int change = !strcmp(action, "LOWER") ? -1 : !strcmp(action, "UPPER") ? 1 : !strcmp(action, "NONE") ? 0 : 2;
    if (change == 2) return pl_err(PL_ERR_INVALID, "attribute case_change_action '%s' must be LOWER, UPPER or NONE", action);
    bool case_sensitive = pl_attr_int(n, "is_case_sensitive", 0) != 0;
    const pl_attr *sw = pl_node_attr(n, "stopwords");
    char *const *stop = sw && sw->type == PL_ATTR_STRINGS ? sw->strings : NULL;
    int n_stop = stop ? sw->n : 0;
    char *const *in = x->data;
    int64_t kept = 0;
    for (int64_t i = 0; i < x->numel; i++) kept += !is_stopword(in[i], stop, n_stop, case_sensitive);
    int64_t dims[2] = {1, kept ? kept : 1}; /* all removed: one empty string */
    pl_tensor *y;
    if (x->rank == 2) PL_TRY(pl_out(ctx, 0, PL_DT_STRING, 2, dims, &y));
    else PL_TRY(pl_out(ctx, 0, PL_DT_STRING, 1, &dims[1], &y));
    char **out = y->data;
    int64_t k = 0;
    for (int64_t i = 0; i < x->numel && kept; i++) {
        if (is_stopword(in[i], stop, n_stop, case_sensitive)) continue;
        out[k] = pl_strdup(in[i]);
        if (!out[k]) return pl_err(PL_ERR_NOMEM, "out of memory");
        for (char *c = out[k]; *c; c++)
            if (change) *c = (char)(change > 0 ? toupper((unsigned char)*c) : tolower((unsigned char)*c));
        k++;
    }
    if (!kept && !(out[0] = pl_strdup(""))) return pl_err(PL_ERR_NOMEM, "out of memory");
    return PL_OK;
}

const pl_op_schema pl_ops_text[] = {
    {"", "TfIdfVectorizer", 1, 1, 1, 1, run_tfidf},
    {"", "StringNormalizer", 1, 1, 1, 1, run_string_normalizer},
    {0},
};
