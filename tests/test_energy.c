/* test_energy.c - energy meters on fake sysfs trees: domain selection, wraparound, hwmon power
 * integration, unreadable counters, and the labelled estimate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "measure/energy.h"

#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[64];

static void put(const char *rel, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", p);
    for (char *s = dir + strlen(root) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        mkdir(dir, 0755);
        *s = '/';
    }
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    snprintf(root, sizeof root, "/tmp/plaster_energy_XXXXXX");
    if (!mkdtemp(root)) return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void rapl_tree(void) {
    put("powercap/intel-rapl:0/name", "package-0\n");
    put("powercap/intel-rapl:0/energy_uj", "1000000\n");
    put("powercap/intel-rapl:0/max_energy_range_uj", "262143328850\n");
    put("powercap/intel-rapl:0:0/name", "core\n"); /* inside the package: must not be added */
    put("powercap/intel-rapl:0:0/energy_uj", "500000\n");
    put("powercap/intel-rapl:0:1/name", "dram\n");
    put("powercap/intel-rapl:0:1/energy_uj", "0\n");
    put("powercap/intel-rapl:0:1/max_energy_range_uj", "65532610987\n");
    put("powercap/intel-rapl:1/name", "package-1\n");
    put("powercap/intel-rapl:1/energy_uj", "262143000000\n"); /* near its wrap */
    put("powercap/intel-rapl:1/max_energy_range_uj", "262143328850\n");
    put("powercap/intel-rapl-mmio:0/name", "package-0\n");
    char p[256];
    snprintf(p, sizeof p, "%s/powercap", root);
    setenv("PL_POWERCAP_ROOT", p, 1);
}

static void test_rapl_domains_and_wraparound(void **state) {
    (void)state;
    rapl_tree();
    pl_energy_meter *m = NULL;
    pl_energy_options opt = {.force = "rapl"};
    assert_int_equal(pl_energy_meter_open(&opt, &m), PL_OK);
    assert_int_equal(pl_energy_meter_kind(m), PL_METER_RAPL);
    assert_non_null(strstr(pl_energy_meter_describe(m), "package-0 + "));
    assert_null(strstr(pl_energy_meter_describe(m), "core +"));
    /* +2 J on package-0, +0.5 J dram, core +9 J (ignored), package-1 wraps: 328850 + 1 + 1000000 uJ */
    put("powercap/intel-rapl:0/energy_uj", "3000000\n");
    put("powercap/intel-rapl:0:1/energy_uj", "500000\n");
    put("powercap/intel-rapl:0:0/energy_uj", "9500000\n");
    put("powercap/intel-rapl:1/energy_uj", "1000000\n");
    assert_int_equal(pl_energy_meter_sample(m), PL_OK);
    double expect = 2.0 + 0.5 + (328850.0 + 1.0 + 1000000.0) * 1e-6;
    assert_true(pl_energy_meter_joules(m) > expect - 1e-9 && pl_energy_meter_joules(m) < expect + 1e-9);
    pl_energy_meter_close(m);
}

static void test_rapl_unreadable(void **state) {
    (void)state;
    rapl_tree();
    char p[512];
    snprintf(p, sizeof p, "%s/powercap/intel-rapl:0/energy_uj", root);
    chmod(p, 0000);
    pid_t pid = fork();
    if (pid == 0) {
        /* drop the capabilities that let root read anything, to see what a user sees */
        struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct d[2];
        memset(d, 0, sizeof d);
        if (syscall(SYS_capget, &h, d) == 0) {
            d[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
            syscall(SYS_capset, &h, d);
        }
        pl_energy_meter *m = NULL;
        pl_energy_options opt = {.force = "rapl"};
        pl_status st = pl_energy_meter_open(&opt, &m);
        int ok = st != PL_OK && strstr(pl_last_error(), "permission denied") &&
                 strstr(pl_last_error(), "chmod a+r") && strstr(pl_last_error(), "energy_uj");
        if (!ok) fprintf(stderr, "got: %s\n", pl_last_error());
        /* chosen automatically, the meter falls back to a labelled estimate that says why */
        setenv("PL_HWMON_ROOT", "/nonexistent", 1);
        st = pl_energy_meter_open(NULL, &m);
        ok = ok && st == PL_OK && pl_energy_meter_kind(m) == PL_METER_ESTIMATE &&
             strstr(pl_energy_meter_describe(m), "estimate") && strstr(pl_energy_meter_describe(m), "permission denied");
        if (st == PL_OK) pl_energy_meter_close(m);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    chmod(p, 0644);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_hwmon_power_and_garbage(void **state) {
    (void)state;
    put("hwmon/hwmon3/name", "fake\n");
    put("hwmon/hwmon3/power1_input", "20000000\n"); /* 20 W */
    char p[256];
    snprintf(p, sizeof p, "%s/hwmon", root);
    setenv("PL_HWMON_ROOT", p, 1);
    pl_energy_meter *m = NULL;
    pl_energy_options opt = {.force = "hwmon"};
    assert_int_equal(pl_energy_meter_open(&opt, &m), PL_OK);
    usleep(50000);
    assert_int_equal(pl_energy_meter_sample(m), PL_OK);
    double j = pl_energy_meter_joules(m); /* 20 W for >= 50 ms */
    assert_true(j >= 20 * 0.05 * 0.99 && j < 20 * 0.5);
    put("hwmon/hwmon3/power1_input", "not a number\n");
    assert_int_equal(pl_energy_meter_sample(m), PL_ERR_IO);
    assert_non_null(strstr(pl_last_error(), "power1_input"));
    pl_energy_meter_close(m);
}

static void test_estimate_is_labelled(void **state) {
    (void)state;
    put("stat", "cpu  100 0 100 800 0 0 0 0 0 0\n");
    char p[256];
    snprintf(p, sizeof p, "%s/stat", root);
    setenv("PL_PROC_STAT", p, 1);
    pl_energy_meter *m = NULL;
    pl_energy_options opt = {.force = "estimate", .estimate_tdp_w = 100};
    assert_int_equal(pl_energy_meter_open(&opt, &m), PL_OK);
    assert_non_null(strstr(pl_energy_meter_describe(m), "not a measurement"));
    put("stat", "cpu  150 0 150 900 0 0 0 0 0 0\n"); /* 100 busy of 200: 50% */
    usleep(20000);
    assert_int_equal(pl_energy_meter_sample(m), PL_OK);
    double j = pl_energy_meter_joules(m); /* 50 W for >= 20 ms */
    assert_true(j >= 50 * 0.02 * 0.99 && j < 50 * 0.5);
    pl_energy_meter_close(m);
    unsetenv("PL_PROC_STAT");
    opt.force = "bogus";
    assert_int_equal(pl_energy_meter_open(&opt, &m), PL_ERR_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rapl_domains_and_wraparound),
        cmocka_unit_test(test_rapl_unreadable),
        cmocka_unit_test(test_hwmon_power_and_garbage),
        cmocka_unit_test(test_estimate_is_labelled),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
