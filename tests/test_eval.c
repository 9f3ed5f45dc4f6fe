/* test_eval.c - dataset evaluation: Wilson intervals against hand-computed values, the embedded
 * Fashion-MNIST model on the real 10,000-image test set against the accuracy PyTorch measured
 * at training, image folders of PNG and JPEG files with a model whose output is predictable,
 * .npy pairs, ONNX test data, and the errors bad datasets must give. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "data/data.h"
#include "measure/eval.h"

#include <math.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE */
#include <jpeglib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fixtures[256]; /* written by tests/make_eval_fixtures.py, plus JPEGs from here */

static void write_jpeg(const char *path, int w, int h, const uint8_t rgb[3], bool truncate) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char *mem = NULL;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &mem, &size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)w * 3);
    for (int x = 0; x < w; x++) memcpy(row + 3 * x, rgb, 3);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r[1] = {row};
        jpeg_write_scanlines(&c, r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(mem, 1, truncate ? size / 2 : size, f);
    fclose(f);
    free(row);
    free(mem);
}

static int setup(void **state) {
    (void)state;
    snprintf(fixtures, sizeof fixtures, "/tmp/plaster_eval_XXXXXX");
    if (!mkdtemp(fixtures)) return -1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/make_eval_fixtures.py %s", PL_SOURCE_DIR, fixtures);
    if (system(cmd) != 0) return -1;
    char p[512];
    const uint8_t red[3] = {220, 20, 20}, blue[3] = {20, 20, 220};
    snprintf(p, sizeof p, "%s/images/0_red/e.jpg", fixtures);
    write_jpeg(p, 10, 7, red, false);
    snprintf(p, sizeof p, "%s/images/2_blue/f.JPEG", fixtures);
    write_jpeg(p, 16, 16, blue, false);
    snprintf(p, sizeof p, "%s/truncated_jpeg/0", fixtures);
    snprintf(cmd, sizeof cmd, "mkdir -p %s", p);
    if (system(cmd) != 0) return -1;
    snprintf(p, sizeof p, "%s/truncated_jpeg/0/half.jpg", fixtures);
    write_jpeg(p, 64, 64, red, true);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fixtures);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_wilson_interval(void **state) {
    (void)state;
    double lo, hi;
    /* hand-computed: centre (p + z^2/2n)/(1 + z^2/n), half z/(1 + z^2/n) sqrt(p(1-p)/n + z^2/4n^2) */
    pl_wilson_interval(5, 10, 1.959963984540054, &lo, &hi);
    assert_true(fabs(lo - 0.236593) < 1e-6 && fabs(hi - 0.763407) < 1e-6);
    pl_wilson_interval(0, 10, 1.959963984540054, &lo, &hi); /* upper = z^2/(n + z^2) */
    assert_true(lo == 0.0 && fabs(hi - 3.841459 / 13.841459) < 1e-6);
    pl_wilson_interval(8951, 10000, 1.959963984540054, &lo, &hi);
    assert_true(fabs(lo - 0.888942) < 1e-6 && fabs(hi - 0.900955) < 1e-6);
    pl_wilson_interval(0, 0, 1.96, &lo, &hi);
    assert_true(lo == 0.0 && hi == 1.0);
}

static void test_score_rank(void **state) {
    (void)state;
    const double s[5] = {0.1, 0.7, 0.7, NAN, -3};
    assert_int_equal(pl_score_rank(s, 5, 1), 0); /* tie: the lower index wins */
    assert_int_equal(pl_score_rank(s, 5, 2), 1);
    assert_int_equal(pl_score_rank(s, 5, 0), 2);
    assert_int_equal(pl_score_rank(s, 5, 4), 3);
    assert_int_equal(pl_score_rank(s, 5, 3), 4); /* NaN ranks last */
}

static pl_eval_result *eval(const char *model_path, pl_eval_settings *s, pl_status want) {
    pl_model *m = NULL;
    assert_int_equal(pl_model_load(model_path, &m), PL_OK);
    pl_eval_result *r = NULL;
    pl_status st = pl_eval_run(m, s, &r);
    if (st != want) fail_msg("status %d, want %d: %s", st, want, pl_last_error());
    if (want != PL_OK) assert_null(r);
    pl_model_destroy(m);
    return r;
}

static int64_t confusion_sum(const pl_eval_result *r, int64_t *diagonal) {
    int64_t sum = 0;
    *diagonal = 0;
    for (int i = 0; i < r->n_classes; i++)
        for (int j = 0; j < r->n_classes; j++) {
            sum += r->confusion[i * r->n_classes + j];
            if (i == j) *diagonal += r->confusion[i * r->n_classes + j];
        }
    return sum;
}

static void test_fashion_mnist_full(void **state) {
    (void)state;
    const char *path = PL_SOURCE_DIR "/examples/models/fashion_cnn/model.onnx";
    pl_model *m = NULL;
    assert_int_equal(pl_model_load(path, &m), PL_OK);
    double trained = -1;
    for (int i = 0; i < pl_model_metadata_count(m); i++) {
        const char *k, *v;
        pl_model_metadata_get(m, i, &k, &v);
        if (!strcmp(k, "test_top1")) trained = atof(v);
    }
    pl_model_destroy(m);
    assert_true(trained > 0.5);
    pl_eval_settings s;
    pl_eval_settings_default(&s);
    s.dataset = "fashion-mnist";
    s.batch = 100;
    pl_eval_result *r = eval(path, &s, PL_OK);
    assert_int_equal(r->samples, 10000);
    assert_int_equal(r->n_classes, 10);
    if (fabs(r->top1 - trained) > 0.005) fail_msg("top-1 %.4f, PyTorch measured %.4f", r->top1, trained);
    assert_true(r->top1_lo < r->top1 && r->top1 < r->top1_hi && r->top5 >= r->top1);
    int64_t diag;
    assert_int_equal(confusion_sum(r, &diag), 10000);
    assert_int_equal(diag, r->top1_correct);
    for (int c = 0; c < 10; c++) { /* the test set holds 1000 of each class */
        int64_t row = 0;
        for (int j = 0; j < 10; j++) row += r->confusion[c * 10 + j];
        assert_int_equal(row, 1000);
    }
    assert_non_null(strstr(r->dataset, "from model metadata"));
    pl_eval_result_destroy(r);
}

static void test_image_folder(void **state) {
    (void)state;
    char model[512], data[512];
    snprintf(model, sizeof model, "%s/tiny.onnx", fixtures);
    snprintf(data, sizeof data, "%s/images", fixtures);
    pl_eval_settings s;
    pl_eval_settings_default(&s);
    s.dataset = data;
    pl_eval_result *r = eval(model, &s, PL_OK); /* 4 PNG + 2 JPEG; one green PNG filed under red */
    assert_int_equal(r->samples, 6);
    assert_int_equal(r->n_classes, 3);
    assert_int_equal(r->top1_correct, 5);
    assert_int_equal(r->top5_correct, 6);
    const int64_t want[9] = {2, 1, 0, 0, 1, 0, 0, 0, 2};
    assert_memory_equal(r->confusion, want, sizeof want);
    assert_non_null(strstr(r->dataset, "ImageNet defaults"));
    assert_non_null(strstr(r->dataset, "resized (bilinear) to 4"));
    pl_eval_result_destroy(r);

    const float mean[1] = {0.5f}, sd[1] = {0.25f};
    s.mean = mean;
    s.std = sd;
    s.n_channels_norm = 1;
    s.batch = 4; /* a batch of 4 then one of 2 */
    s.limit = 5;
    r = eval(model, &s, PL_OK);
    assert_int_equal(r->samples, 5);
    assert_int_equal(r->top1_correct, 4);
    assert_non_null(strstr(r->dataset, "(from settings)"));
    pl_eval_result_destroy(r);

    /* channels last, found from the input shape [N,4,4,3]; forcing NCHW makes 4 "channels" */
    snprintf(model, sizeof model, "%s/tiny_nhwc.onnx", fixtures);
    pl_eval_settings_default(&s);
    s.dataset = data;
    r = eval(model, &s, PL_OK);
    assert_int_equal(r->samples, 6);
    assert_memory_equal(r->confusion, want, sizeof want);
    assert_non_null(strstr(r->dataset, "layout NHWC"));
    pl_eval_result_destroy(r);
    s.layout = "NCHW";
    eval(model, &s, PL_ERR_INVALID);
    assert_non_null(strstr(pl_last_error(), "takes 4 channels"));
}

static void test_npy_and_onnx_test_data(void **state) {
    (void)state;
    char model[512], data[512];
    snprintf(model, sizeof model, "%s/tiny.onnx", fixtures);
    pl_eval_settings s;
    pl_eval_settings_default(&s);
    s.dataset = data;
    snprintf(data, sizeof data, "%s/npy", fixtures);
    s.batch = 2;
    pl_eval_result *r = eval(model, &s, PL_OK);
    assert_int_equal(r->samples, 5);
    assert_int_equal(r->top1_correct, 4);
    assert_int_equal(r->confusion[2 * 3 + 0], 1); /* sample 3: labelled 2, predicted 0 */
    pl_eval_result_destroy(r);
    snprintf(data, sizeof data, "%s/onnx_tests", fixtures);
    r = eval(model, &s, PL_OK);
    assert_int_equal(r->samples, 3);
    assert_int_equal(r->top1_correct, 2);
    assert_int_equal(r->confusion[0 * 3 + 1], 1);
    pl_eval_result_destroy(r);
}

static void expect_error(const char *model_name, const char *dataset, pl_status want, const char *needle) {
    char model[512], data[512];
    snprintf(model, sizeof model, "%s/%s", fixtures, model_name);
    snprintf(data, sizeof data, "%s/%s", fixtures, dataset);
    pl_eval_settings s;
    pl_eval_settings_default(&s);
    s.dataset = data;
    eval(model, &s, want);
    if (!strstr(pl_last_error(), needle)) fail_msg("'%s' lacks '%s'", pl_last_error(), needle);
}

static void test_errors(void **state) {
    (void)state;
    expect_error("tiny.onnx", "corrupt_png", PL_ERR_INVALID, "corrupt_png/0/bad.png");
    expect_error("tiny.onnx", "corrupt_jpeg", PL_ERR_INVALID, "corrupt_jpeg/0/bad.jpg: corrupt JPEG");
    expect_error("tiny.onnx", "truncated_jpeg", PL_ERR_INVALID, "half.jpg: corrupt JPEG: Premature end");
    expect_error("tiny.onnx", "idx/lonely-images-idx3-ubyte", PL_ERR_IO, "lonely-labels-idx1-ubyte");
    expect_error("tiny.onnx", "idx/short-images-idx3-ubyte", PL_ERR_INVALID, "2 labels for 3 samples");
    expect_error("tiny.onnx", "absent", PL_ERR_IO, "absent: no such dataset");
    expect_error("bad_output.onnx", "npy", PL_ERR_INVALID, "eval needs [N, classes]");
    /* the embedded model's [1,28,28] input: a missing IDX file, then 4x4 .npy samples */
    char data[512];
    pl_eval_settings s;
    pl_eval_settings_default(&s);
    s.dataset = "/nonexistent/x-images-idx3-ubyte.gz";
    eval(PL_SOURCE_DIR "/examples/models/fashion_cnn/model.onnx", &s, PL_ERR_IO);
    snprintf(data, sizeof data, "%s/npy", fixtures);
    s.dataset = data;
    eval(PL_SOURCE_DIR "/examples/models/fashion_cnn/model.onnx", &s, PL_ERR_INVALID);
    assert_non_null(strstr(pl_last_error(), "x.npy: samples are [3,4,4] (48 values)"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wilson_interval),
        cmocka_unit_test(test_score_rank),
        cmocka_unit_test(test_fashion_mnist_full),
        cmocka_unit_test(test_image_folder),
        cmocka_unit_test(test_npy_and_onnx_test_data),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
