/* energy.c - RAPL, hwmon, NVML, external and estimated energy meters. */
#include "energy.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_DOMAINS 32

typedef struct domain {
    char path[PATH_MAX];   /* counter (energy_uj / energyN_input) or power (powerN_input) file */
    uint64_t last;         /* last raw counter value */
    uint64_t max_range;    /* wrap modulus (RAPL max_energy_range_uj + 1); 0 = no wrap */
    bool is_power;         /* hwmon power file in microwatts (integrated over time) */
} domain;

typedef void *nvml_handle;
typedef struct nvml_api {
    void *lib;
    int (*shutdown)(void);
    int (*energy)(nvml_handle, unsigned long long *);
    nvml_handle dev[16];
    unsigned long long last[16];
    unsigned n;
} nvml_api;

struct pl_energy_meter {
    pl_meter_kind kind;
    char desc[1024];
    double joules;
    double last_t;    /* seconds, monotonic */
    double last_w;    /* last power reading, for trapezoids */
    int n;
    domain dom[MAX_DOMAINS];
    char external[PATH_MAX];
    double tdp_w;
    uint64_t last_busy, last_total; /* /proc/stat jiffies */
    nvml_api nvml;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *pl_meter_kind_name(pl_meter_kind k) {
    switch (k) {
    case PL_METER_RAPL: return "rapl";
    case PL_METER_HWMON: return "hwmon";
    case PL_METER_NVML: return "nvml";
    case PL_METER_EXTERNAL: return "external";
    case PL_METER_ESTIMATE: return "estimate";
    }
    return "unknown";
}

static const char *env_or(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return v && v[0] ? v : dflt;
}

/* Reads one unsigned integer from a sysfs file; errno-style message on failure. */
static pl_status read_u64(const char *path, uint64_t *out) {
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == EACCES)
            return pl_err(PL_ERR_IO, "%s: permission denied (energy counters are root-only since Linux 5.10: run as root or `sudo chmod a+r %s`)",
                          path, path);
        return pl_err(PL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    unsigned long long v;
    int ok = fscanf(f, "%llu", &v) == 1;
    int err = errno;
    fclose(f);
    if (!ok) {
        if (err == EACCES || err == EPERM)
            return pl_err(PL_ERR_IO, "%s: permission denied (run as root or `sudo chmod a+r %s`)", path, path);
        return pl_err(PL_ERR_IO, "%s: not a number", path);
    }
    *out = v;
    return PL_OK;
}

static bool read_line(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool ok = fgets(buf, (int)n, f) != NULL;
    fclose(f);
    if (ok) buf[strcspn(buf, "\n")] = 0;
    return ok;
}

/* ---- RAPL: top-level packages plus dram sub-domains; core/uncore lie inside the package and
 * psys covers everything, so they are not added. ---- */
static pl_status open_rapl(pl_energy_meter *m) {
    const char *root = env_or("PL_POWERCAP_ROOT", "/sys/class/powercap");
    DIR *d = opendir(root);
    if (!d) return pl_err(PL_ERR_UNSUPPORTED, "rapl: %s is absent (no powercap RAPL on this machine)", root);
    struct dirent *e;
    char names[MAX_DOMAINS][64];
    pl_status st = PL_OK;
    while ((e = readdir(d)) && st == PL_OK) {
        if (strncmp(e->d_name, "intel-rapl:", 11) && strncmp(e->d_name, "amd-rapl:", 9)) continue;
        char p[PATH_MAX], name[64] = "";
        snprintf(p, sizeof p, "%s/%s/name", root, e->d_name);
        read_line(p, name, sizeof name);
        int colons = 0;
        for (const char *c = e->d_name; *c; c++) colons += *c == ':';
        bool package = colons == 1 && !strncmp(name, "package", 7);
        bool dram = !strcmp(name, "dram");
        if (!package && !dram) continue;
        if (m->n == MAX_DOMAINS) break;
        domain *dom = &m->dom[m->n];
        snprintf(dom->path, sizeof dom->path, "%s/%s/energy_uj", root, e->d_name);
        snprintf(p, sizeof p, "%s/%s/max_energy_range_uj", root, e->d_name);
        uint64_t range = 0;
        if (read_u64(p, &range) == PL_OK) dom->max_range = range + 1;
        st = read_u64(dom->path, &dom->last);
        snprintf(names[m->n], sizeof names[0], "%s", name);
        m->n++;
    }
    closedir(d);
    if (st != PL_OK) return pl_err_prefix(PL_ERR_IO, "rapl");
    if (m->n == 0) return pl_err(PL_ERR_UNSUPPORTED, "rapl: no package domains under %s", root);
    m->kind = PL_METER_RAPL;
    size_t used = (size_t)snprintf(m->desc, sizeof m->desc, "rapl (powercap %s: ", root);
    for (int i = 0; i < m->n && used < sizeof m->desc; i++)
        used += (size_t)snprintf(m->desc + used, sizeof m->desc - used, "%s%s", i ? " + " : "", names[i]);
    if (used < sizeof m->desc) snprintf(m->desc + used, sizeof m->desc - used, "; core/uncore/psys not added: they overlap)");
    return PL_OK;
}

/* ---- hwmon: energyN_input (uJ, cumulative) preferred, else powerN_input (uW). ---- */
static pl_status open_hwmon(pl_energy_meter *m) {
    const char *root = env_or("PL_HWMON_ROOT", "/sys/class/hwmon");
    DIR *d = opendir(root);
    if (!d) return pl_err(PL_ERR_UNSUPPORTED, "hwmon: %s is absent", root);
    struct dirent *e;
    pl_status st = PL_OK;
    for (int want_power = 0; want_power < 2 && m->n == 0 && st == PL_OK; want_power++) {
        rewinddir(d);
        while ((e = readdir(d)) && m->n < MAX_DOMAINS && st == PL_OK) {
            if (e->d_name[0] == '.') continue;
            char dir[PATH_MAX];
            snprintf(dir, sizeof dir, "%s/%s", root, e->d_name);
            DIR *h = opendir(dir);
            if (!h) continue;
            struct dirent *f;
            while ((f = readdir(h)) && m->n < MAX_DOMAINS) {
                const char *prefix = want_power ? "power" : "energy";
                size_t pl = strlen(prefix), fl = strlen(f->d_name);
                if (strncmp(f->d_name, prefix, pl) || fl < 7 || strcmp(f->d_name + fl - 6, "_input")) continue;
                domain *dom = &m->dom[m->n];
                snprintf(dom->path, sizeof dom->path, "%s/%s", dir, f->d_name);
                dom->is_power = want_power;
                st = read_u64(dom->path, &dom->last);
                if (st != PL_OK) break;
                m->n++;
            }
            closedir(h);
        }
    }
    closedir(d);
    if (st != PL_OK) return pl_err_prefix(PL_ERR_IO, "hwmon");
    if (m->n == 0) return pl_err(PL_ERR_UNSUPPORTED, "hwmon: no energy or power inputs under %s", root);
    m->kind = PL_METER_HWMON;
    if (m->dom[0].is_power) m->last_w = (double)m->dom[0].last * 1e-6;
    snprintf(m->desc, sizeof m->desc, "hwmon (%d %s input(s) under %s%s)", m->n,
             m->dom[0].is_power ? "power" : "energy", root, m->dom[0].is_power ? ", integrated over time" : "");
    return PL_OK;
}

/* ---- NVML, loaded at run time so plaster never links the driver ---- */
static pl_status open_nvml(pl_energy_meter *m) {
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return pl_err(PL_ERR_UNSUPPORTED, "nvml: libnvidia-ml.so.1 not found (no NVIDIA driver)");
    int (*init)(void) = (int (*)(void))dlsym(lib, "nvmlInit_v2");
    int (*count)(unsigned *) = (int (*)(unsigned *))dlsym(lib, "nvmlDeviceGetCount_v2");
    int (*handle)(unsigned, nvml_handle *) = (int (*)(unsigned, nvml_handle *))dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
    m->nvml.energy = (int (*)(nvml_handle, unsigned long long *))dlsym(lib, "nvmlDeviceGetTotalEnergyConsumption");
    m->nvml.shutdown = (int (*)(void))dlsym(lib, "nvmlShutdown");
    unsigned n = 0;
    if (!init || !count || !handle || !m->nvml.energy || init() != 0 || count(&n) != 0 || n == 0) {
        dlclose(lib);
        return pl_err(PL_ERR_UNSUPPORTED, "nvml: no GPU whose energy counter can be read");
    }
    m->nvml.lib = lib;
    m->nvml.n = n > 16 ? 16 : n;
    for (unsigned i = 0; i < m->nvml.n; i++)
        if (handle(i, &m->nvml.dev[i]) != 0 || m->nvml.energy(m->nvml.dev[i], &m->nvml.last[i]) != 0) {
            if (m->nvml.shutdown) m->nvml.shutdown();
            dlclose(lib);
            m->nvml.lib = NULL;
            return pl_err(PL_ERR_UNSUPPORTED, "nvml: GPU %u has no total energy counter (needs Volta or newer)", i);
        }
    m->kind = PL_METER_NVML;
    snprintf(m->desc, sizeof m->desc, "nvml (total energy counter of %u GPU(s))", m->nvml.n);
    return PL_OK;
}

/* ---- external meter: a file whose last line is watts, or "cmd:COMMAND" printing watts ---- */
static pl_status external_watts(const char *spec, double *w) {
    char line[256] = "";
    if (!strncmp(spec, "cmd:", 4)) {
        FILE *p = popen(spec + 4, "r");
        if (!p) return pl_err(PL_ERR_IO, "external meter: cannot run '%s'", spec + 4);
        bool ok = fgets(line, sizeof line, p) != NULL;
        int rc = pclose(p);
        if (!ok || rc != 0) return pl_err(PL_ERR_IO, "external meter: '%s' printed no watts (exit %d)", spec + 4, rc);
    } else {
        FILE *f = fopen(spec, "r");
        if (!f) return pl_err(PL_ERR_IO, "external meter: %s: %s", spec, strerror(errno));
        char buf[256];
        while (fgets(buf, sizeof buf, f)) memcpy(line, buf, sizeof line);
        fclose(f);
    }
    char *end;
    *w = strtod(line, &end);
    if (end == line || *w < 0) return pl_err(PL_ERR_INVALID, "external meter: '%.40s' is not a power in watts", line);
    return PL_OK;
}

static pl_status open_external(pl_energy_meter *m, const char *spec) {
    snprintf(m->external, sizeof m->external, "%s", spec);
    PL_TRY(external_watts(spec, &m->last_w));
    m->kind = PL_METER_EXTERNAL;
    snprintf(m->desc, sizeof m->desc, "external (watts from %s, integrated over time)", spec);
    return PL_OK;
}

/* ---- estimate: TDP x CPU utilisation from /proc/stat ---- */
static pl_status read_proc_stat(uint64_t *busy, uint64_t *total) {
    const char *path = env_or("PL_PROC_STAT", "/proc/stat");
    char line[512];
    if (!read_line(path, line, sizeof line)) return pl_err(PL_ERR_IO, "estimate: cannot read %s", path);
    unsigned long long v[10] = {0};
    int n = sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    if (n < 4) return pl_err(PL_ERR_INVALID, "estimate: %s has no aggregate cpu line", path);
    uint64_t t = 0;
    for (int i = 0; i < 8; i++) t += v[i]; /* guest time is already in user */
    *total = t;
    *busy = t - v[3] - v[4];               /* minus idle and iowait */
    return PL_OK;
}

static pl_status open_estimate(pl_energy_meter *m, double tdp, const char *why_not) {
    PL_TRY(read_proc_stat(&m->last_busy, &m->last_total));
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    m->tdp_w = tdp > 0 ? tdp : 15.0 * (double)(cores > 0 ? cores : 1);
    m->kind = PL_METER_ESTIMATE;
    snprintf(m->desc, sizeof m->desc,
             "estimate (no power meter: %.0f W at full load x CPU utilisation from /proc/stat%s%s%s; not a measurement)",
             m->tdp_w, tdp > 0 ? "" : ", assumed 15 W per core", why_not ? "; " : "", why_not ? why_not : "");
    return PL_OK;
}

pl_status pl_energy_meter_open(const pl_energy_options *opt, pl_energy_meter **out) {
    *out = NULL;
    pl_energy_meter *m = calloc(1, sizeof *m);
    if (!m) return pl_err(PL_ERR_NOMEM, "out of memory");
    const char *force = opt ? opt->force : NULL;
    const char *ext = opt ? opt->external : NULL;
    double tdp = opt ? opt->estimate_tdp_w : 0;
    pl_status st;
    char tried[1024] = "";
    if (force) {
        if (!strcmp(force, "rapl")) st = open_rapl(m);
        else if (!strcmp(force, "hwmon")) st = open_hwmon(m);
        else if (!strcmp(force, "nvml")) st = open_nvml(m);
        else if (!strcmp(force, "external"))
            st = ext ? open_external(m, ext) : pl_err(PL_ERR_INVALID, "external meter: no file or command given");
        else if (!strcmp(force, "estimate")) st = open_estimate(m, tdp, NULL);
        else st = pl_err(PL_ERR_INVALID, "unknown energy meter '%s' (rapl, hwmon, nvml, external, estimate)", force);
    } else if (ext) {
        st = open_external(m, ext);
    } else {
        pl_status (*tries[])(pl_energy_meter *) = {open_rapl, open_hwmon, open_nvml};
        st = PL_ERR_UNSUPPORTED;
        for (size_t i = 0; i < 3 && st != PL_OK; i++) {
            memset(m, 0, sizeof *m);
            st = tries[i](m);
            if (st != PL_OK) {
                size_t used = strlen(tried);
                snprintf(tried + used, sizeof tried - used, "%s%s", used ? "; " : "", pl_last_error());
            }
        }
        if (st != PL_OK) {
            memset(m, 0, sizeof *m);
            st = open_estimate(m, tdp, tried);
        }
    }
    if (st != PL_OK) {
        free(m);
        return st;
    }
    m->last_t = now_s();
    *out = m;
    return PL_OK;
}

pl_status pl_energy_meter_sample(pl_energy_meter *m) {
    double t = now_s(), dt = t - m->last_t;
    switch (m->kind) {
    case PL_METER_RAPL:
    case PL_METER_HWMON: {
        double watts = 0;
        for (int i = 0; i < m->n; i++) {
            uint64_t v;
            PL_TRY(read_u64(m->dom[i].path, &v));
            if (m->dom[i].is_power) {
                watts += (double)v * 1e-6;
                continue;
            }
            uint64_t delta = v >= m->dom[i].last ? v - m->dom[i].last
                             : m->dom[i].max_range ? v + m->dom[i].max_range - m->dom[i].last
                                                   : 0; /* a counter that went back without a known range */
            m->joules += (double)delta * 1e-6;
            m->dom[i].last = v;
        }
        if (m->n && m->dom[0].is_power) {
            m->joules += 0.5 * (watts + m->last_w) * dt;
            m->last_w = watts;
        }
        break;
    }
    case PL_METER_NVML:
        for (unsigned i = 0; i < m->nvml.n; i++) {
            unsigned long long v;
            if (m->nvml.energy(m->nvml.dev[i], &v) != 0) return pl_err(PL_ERR_IO, "nvml: energy read failed on GPU %u", i);
            m->joules += (double)(v - m->nvml.last[i]) * 1e-3;
            m->nvml.last[i] = v;
        }
        break;
    case PL_METER_EXTERNAL: {
        double w;
        PL_TRY(external_watts(m->external, &w));
        m->joules += 0.5 * (w + m->last_w) * dt;
        m->last_w = w;
        break;
    }
    case PL_METER_ESTIMATE: {
        uint64_t busy, total;
        PL_TRY(read_proc_stat(&busy, &total));
        double util = total > m->last_total ? (double)(busy - m->last_busy) / (double)(total - m->last_total) : 0;
        if (util < 0) util = 0;
        if (util > 1) util = 1;
        m->joules += m->tdp_w * util * dt;
        m->last_busy = busy;
        m->last_total = total;
        break;
    }
    }
    m->last_t = t;
    return PL_OK;
}

double pl_energy_meter_joules(const pl_energy_meter *m) { return m->joules; }
pl_meter_kind pl_energy_meter_kind(const pl_energy_meter *m) { return m->kind; }
const char *pl_energy_meter_describe(const pl_energy_meter *m) { return m->desc; }

void pl_energy_meter_close(pl_energy_meter *m) {
    if (!m) return;
    if (m->nvml.lib) {
        if (m->nvml.shutdown) m->nvml.shutdown();
        dlclose(m->nvml.lib);
    }
    free(m);
}
