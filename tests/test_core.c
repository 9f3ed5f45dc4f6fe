/* test_core.c - tensors, dtypes, half precision, the string map, comparison and .npy files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_tensor_create_and_overflow(void **state) {
    (void)state;
    int64_t dims[3] = {2, 3, 4};
    pl_tensor *t = NULL;
    assert_int_equal(pl_tensor_create(PL_DT_FLOAT, 3, dims, &t), PL_OK);
    assert_int_equal(pl_tensor_numel(t), 24);
    assert_int_equal(pl_tensor_nbytes(t), 96);
    float *d = pl_tensor_data(t);
    for (int i = 0; i < 24; i++) assert_true(d[i] == 0.0f);
    pl_tensor_destroy(t);

    int64_t huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    assert_int_equal(pl_tensor_create(PL_DT_FLOAT, 2, huge, &t), PL_ERR_INVALID);
    assert_null(t);
    assert_non_null(strstr(pl_last_error(), "overflows"));

    int64_t neg[1] = {-3};
    assert_int_equal(pl_tensor_create(PL_DT_FLOAT, 1, neg, &t), PL_ERR_INVALID);
    assert_int_equal(pl_tensor_create(PL_DT_FLOAT, PL_MAX_RANK + 1, dims, &t), PL_ERR_INVALID);
    assert_int_equal(pl_tensor_create((pl_dtype)99, 1, dims, &t), PL_ERR_UNSUPPORTED);
}

static void test_half_and_bf16(void **state) {
    (void)state;
    /* exact values */
    const float exact[] = {0.0f, 1.0f, -2.0f, 0.5f, 65504.0f, 6.103515625e-05f, 5.9604645e-08f};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        assert_true(pl_half_to_float(pl_float_to_half(exact[i])) == exact[i]);
    assert_int_equal(pl_float_to_half(1.0f), 0x3c00);
    assert_int_equal(pl_float_to_half(65520.0f), 0x7c00); /* rounds to infinity */
    assert_true(isnan(pl_half_to_float(pl_float_to_half(NAN))));
    /* round to nearest even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 */
    assert_int_equal(pl_float_to_half(1.0f + 0.00048828125f), 0x3c00);
    assert_int_equal(pl_float_to_half(1.0f + 3 * 0.00048828125f), 0x3c02);
    assert_int_equal(pl_float_to_bf16(1.0f), 0x3f80);
    assert_true(pl_bf16_to_float(pl_float_to_bf16(3.140625f)) == 3.140625f);
    assert_true(isnan(pl_bf16_to_float(pl_float_to_bf16(NAN))));
}

static void test_cast(void **state) {
    (void)state;
    int64_t dims[1] = {4};
    pl_tensor *f, *i, *s, *back;
    assert_int_equal(pl_tensor_create(PL_DT_FLOAT, 1, dims, &f), PL_OK);
    float *fd = pl_tensor_data(f);
    fd[0] = 1.5f, fd[1] = -2.7f, fd[2] = NAN, fd[3] = 1e30f;
    assert_int_equal(pl_tensor_cast(f, PL_DT_INT32, &i), PL_OK);
    assert_int_equal(((int32_t *)i->data)[0], 1);
    assert_int_equal(((int32_t *)i->data)[1], -2);
    assert_int_equal(pl_tensor_cast(f, PL_DT_STRING, &s), PL_OK);
    assert_string_equal(((char **)s->data)[0], "1.5");
    assert_string_equal(((char **)s->data)[2], "NaN");
    assert_int_equal(pl_tensor_cast(s, PL_DT_FLOAT, &back), PL_OK);
    assert_true(((float *)back->data)[1] == -2.7f);
    pl_tensor_destroy(f);
    pl_tensor_destroy(i);
    pl_tensor_destroy(s);
    pl_tensor_destroy(back);
}

static void test_strmap(void **state) {
    (void)state;
    pl_strmap m;
    pl_strmap_init(&m);
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "value_%d", i);
        assert_int_equal(pl_strmap_put(&m, key, i), PL_OK);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "value_%d", i);
        assert_int_equal(pl_strmap_get(&m, key), i);
    }
    assert_int_equal(pl_strmap_get(&m, "absent"), -1);
    assert_int_equal(m.len, 1000);
    pl_strmap_free(&m);
}

static void test_compare(void **state) {
    (void)state;
    int64_t dims[1] = {3};
    pl_tensor *a, *b;
    pl_tensor_create(PL_DT_FLOAT, 1, dims, &a);
    pl_tensor_create(PL_DT_FLOAT, 1, dims, &b);
    float *x = pl_tensor_data(a), *y = pl_tensor_data(b);
    x[0] = 1.0f, x[1] = NAN, x[2] = 1000.0f;
    y[0] = 1.0f + 5e-4f, y[1] = NAN, y[2] = 1000.9f;
    char why[256];
    assert_int_equal(pl_tensor_compare(a, b, 1e-3, 1e-5, why, sizeof why), 1);
    y[2] = 1001.2f; /* 1.2 > 1e-5 + 1e-3 * 1000 */
    assert_int_equal(pl_tensor_compare(a, b, 1e-3, 1e-5, why, sizeof why), 0);
    assert_non_null(strstr(why, "element"));
    int64_t d2[2] = {1, 3};
    pl_tensor *c;
    pl_tensor_create(PL_DT_FLOAT, 2, d2, &c);
    assert_int_equal(pl_tensor_compare(a, c, 1e-3, 1e-5, why, sizeof why), 0);
    assert_non_null(strstr(why, "shape"));
    pl_tensor_destroy(a);
    pl_tensor_destroy(b);
    pl_tensor_destroy(c);
}

static void test_npy_roundtrip(void **state) {
    (void)state;
    int64_t dims[2] = {2, 3};
    pl_tensor *t, *r;
    pl_tensor_create(PL_DT_INT64, 2, dims, &t);
    for (int i = 0; i < 6; i++) ((int64_t *)t->data)[i] = i * 1000000007LL;
    char path[] = "/tmp/plaster_test_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(pl_tensor_save_npy(t, path), PL_OK);
    assert_int_equal(pl_tensor_load_npy(path, &r), PL_OK);
    assert_int_equal(pl_tensor_compare(t, r, 0, 0, NULL, 0), 1);
    pl_tensor_destroy(r);
    /* a truncated file is refused with a clear message */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), 100), 0);
    fclose(f);
    assert_int_equal(pl_tensor_load_npy(path, &r), PL_ERR_INVALID);
    assert_null(r);
    assert_non_null(strstr(pl_last_error(), path));
    unlink(path);
    pl_tensor_destroy(t);
}

static void test_pb_roundtrip(void **state) {
    (void)state;
    int64_t dims[3] = {2, 1, 2};
    pl_tensor *t, *r;
    pl_tensor_create(PL_DT_FLOAT16, 3, dims, &t);
    for (int i = 0; i < 4; i++) ((uint16_t *)t->data)[i] = pl_float_to_half((float)i * 0.25f);
    char path[] = "/tmp/plaster_pb_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    assert_int_equal(pl_tensor_save_pb(t, "x", path), PL_OK);
    assert_int_equal(pl_tensor_load_pb(path, &r), PL_OK);
    assert_int_equal(pl_tensor_compare(t, r, 0, 0, NULL, 0), 1);
    pl_tensor_destroy(r);
    FILE *f = fopen(path, "wb");
    fputs("this is not protobuf \xff\xff\xff", f);
    fclose(f);
    assert_int_not_equal(pl_tensor_load_pb(path, &r), PL_OK);
    assert_null(r);
    unlink(path);
    assert_int_equal(pl_tensor_load_pb("/nonexistent/x.pb", &r), PL_ERR_IO);
    pl_tensor_destroy(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor_create_and_overflow),
        cmocka_unit_test(test_half_and_bf16),
        cmocka_unit_test(test_cast),
        cmocka_unit_test(test_strmap),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_npy_roundtrip),
        cmocka_unit_test(test_pb_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
