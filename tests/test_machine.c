/* test_machine.c - the machine description and the peak kernels run and give sane figures
 * (no timing is asserted: only that each measured rate is positive and the ISA is named). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "measure/machine.h"

#include <string.h>

static void test_describe_and_measure(void **state) {
    (void)state;
    pl_machine_info info;
    pl_machine_describe(&info);
    assert_true(info.logical_cpus >= 1);
    assert_true(info.mem_bytes > 0);
    assert_true(strlen(info.kernel) > 0);
    pl_machine_peaks p;
    assert_int_equal(pl_machine_measure(1, 0.02, &p), PL_OK);
    assert_true(p.fp32_gflops > 0 && p.mem_gbps > 0);
    assert_non_null(p.fp32_kernel);
    if (strstr(info.isa, "avx512vnni")) assert_true(p.int8_gops > 0);
    else assert_true(p.int8_gops == 0);
    assert_int_equal(pl_machine_measure(0, 0.02, &p), PL_ERR_INVALID);
    assert_int_equal(pl_machine_measure(1, -1, &p), PL_ERR_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_describe_and_measure)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
