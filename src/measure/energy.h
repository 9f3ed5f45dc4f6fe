/* energy.h - energy meters behind one interface: RAPL (powercap sysfs), hwmon, NVML (dlopen),
 * an external meter (a file or command streaming watts), and, only when none exists, an
 * estimate from CPU utilisation (labelled as such everywhere it is printed).
 *
 * Sysfs roots can be redirected for tests: PL_POWERCAP_ROOT (default /sys/class/powercap),
 * PL_HWMON_ROOT (default /sys/class/hwmon), PL_PROC_STAT (default /proc/stat). */
#ifndef PL_ENERGY_H
#define PL_ENERGY_H

#include "../core/core.h"

typedef enum pl_meter_kind {
    PL_METER_RAPL = 0,
    PL_METER_HWMON = 1,
    PL_METER_NVML = 2,
    PL_METER_EXTERNAL = 3,
    PL_METER_ESTIMATE = 4
} pl_meter_kind;

typedef struct pl_energy_options {
    const char *force;        /* NULL: choose; else "rapl", "hwmon", "nvml", "external", "estimate" */
    const char *external;     /* file whose last line is watts, or "cmd:COMMAND" printing watts */
    double estimate_tdp_w;    /* CPU power at full load for the estimate (0: 15 W per core) */
} pl_energy_options;

typedef struct pl_energy_meter pl_energy_meter;

/* Opens the best available meter (or the forced one). Fails naming what was tried and why,
 * e.g. a RAPL counter that exists but cannot be read, with how to grant access. */
pl_status pl_energy_meter_open(const pl_energy_options *opt, pl_energy_meter **out);
void pl_energy_meter_close(pl_energy_meter *m);
pl_meter_kind pl_energy_meter_kind(const pl_energy_meter *m);
/* "rapl", "hwmon", "nvml", "external", "estimate". */
const char *pl_meter_kind_name(pl_meter_kind k);
/* A one-line description: domains read, files, and for an estimate its assumption. */
const char *pl_energy_meter_describe(const pl_energy_meter *m);
/* Samples the meter: accumulates energy since open, handling counter wraparound. Call it at
 * least once per wrap period (the harness samples every 100 ms inside the timed window). */
pl_status pl_energy_meter_sample(pl_energy_meter *m);
/* Joules accumulated since open, as of the last sample. */
double pl_energy_meter_joules(const pl_energy_meter *m);

#endif
