/* test_data.c - IDX reading on Debian's real Fashion-MNIST files and on broken ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "data/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_fashion_mnist(void **state) {
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", pl_fashion_mnist_dir());
    pl_tensor *img = NULL, *lab = NULL;
    assert_int_equal(pl_idx_load(p, &img), PL_OK);
    assert_int_equal(img->dtype, PL_DT_UINT8);
    assert_int_equal(img->rank, 3);
    assert_true(img->dims[0] == 10000 && img->dims[1] == 28 && img->dims[2] == 28);
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte.gz", pl_fashion_mnist_dir());
    assert_int_equal(pl_idx_load(p, &lab), PL_OK);
    assert_true(lab->rank == 1 && lab->dims[0] == 10000);
    int counts[10] = {0};
    for (int i = 0; i < 10000; i++) {
        uint8_t l = ((uint8_t *)lab->data)[i];
        assert_true(l < 10);
        counts[l]++;
    }
    for (int c = 0; c < 10; c++) assert_int_equal(counts[c], 1000); /* the test set is balanced */
    assert_int_equal(((uint8_t *)lab->data)[0], 9); /* first test item: ankle boot */
    pl_tensor_destroy(img);
    pl_tensor_destroy(lab);
}

static void test_broken_idx(void **state) {
    (void)state;
    char path[] = "/tmp/plaster_idx_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const uint8_t truncated[] = {0, 0, 0x08, 2, 0, 0, 0, 3, 0, 0, 0, 3, 1, 2, 3}; /* 9 needed, 3 given */
    assert_int_equal(write(fd, truncated, sizeof truncated), (long)sizeof truncated);
    close(fd);
    pl_tensor *t = NULL;
    assert_int_equal(pl_idx_load(path, &t), PL_ERR_INVALID);
    assert_non_null(strstr(pl_last_error(), "truncated"));
    FILE *f = fopen(path, "wb");
    fputs("PK\x03\x04 not idx", f);
    fclose(f);
    assert_int_equal(pl_idx_load(path, &t), PL_ERR_INVALID);
    assert_non_null(strstr(pl_last_error(), "magic"));
    unlink(path);
    assert_int_equal(pl_idx_load("/nonexistent.idx", &t), PL_ERR_IO);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fashion_mnist),
        cmocka_unit_test(test_broken_idx),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
