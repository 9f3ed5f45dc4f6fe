/* error.c - per-thread error messages and checked size arithmetic. */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[1024];

const char *pl_last_error(void) { return last_error; }

void pl_err_clear(void) { last_error[0] = '\0'; }

pl_status pl_err(pl_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

pl_status pl_err_prefix(pl_status status, const char *fmt, ...) {
    char prefix[512], old[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    snprintf(last_error, sizeof last_error, "%s: %s", prefix, old);
    return status;
}

const char *pl_status_name(pl_status status) {
    switch (status) {
    case PL_OK: return "ok";
    case PL_ERR_INVALID: return "invalid";
    case PL_ERR_UNSUPPORTED: return "unsupported";
    case PL_ERR_IO: return "io";
    case PL_ERR_NOMEM: return "out of memory";
    case PL_ERR_INTERNAL: return "internal";
    }
    return "unknown";
}

bool pl_mul_size(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) return false;
    if (a != 0 && b > INT64_MAX / a) return false;
    *out = a * b;
    return true;
}

char *pl_strdup(const char *s) {
    if (!s) s = "";
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

pl_status pl_read_file(const char *path, void **out, size_t *size) {
    *out = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return pl_err(PL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return pl_err(PL_ERR_IO, "%s: cannot seek (not a regular file?)", path);
    }
    long len = ftell(f);
    if (len < 0) {
        fclose(f);
        return pl_err(PL_ERR_IO, "%s: cannot tell size", path);
    }
    rewind(f);
    void *buf = malloc((size_t)len + 1);
    if (!buf) {
        fclose(f);
        return pl_err(PL_ERR_NOMEM, "%s: cannot allocate %ld bytes", path, len);
    }
    size_t got = fread(buf, 1, (size_t)len, f);
    fclose(f);
    if (got != (size_t)len) {
        free(buf);
        return pl_err(PL_ERR_IO, "%s: short read (%zu of %ld bytes)", path, got, len);
    }
    *out = buf;
    *size = (size_t)len;
    return PL_OK;
}

/* ---- string map: open addressing, FNV-1a ---- */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

void pl_strmap_init(pl_strmap *m) { memset(m, 0, sizeof *m); }

void pl_strmap_free(pl_strmap *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

int pl_strmap_get(const pl_strmap *m, const char *key) {
    if (!m->cap) return -1;
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0) return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

static pl_status grow(pl_strmap *m) {
    size_t ncap = m->cap ? m->cap * 2 : 64;
    char **keys = calloc(ncap, sizeof *keys);
    int *vals = calloc(ncap, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return pl_err(PL_ERR_NOMEM, "name table: out of memory");
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = hash_str(m->keys[i]) & (ncap - 1);
        while (keys[j]) j = (j + 1) & (ncap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = ncap;
    return PL_OK;
}

pl_status pl_strmap_put(pl_strmap *m, const char *key, int val) {
    if ((m->len + 1) * 2 > m->cap) PL_TRY(grow(m));
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0) {
            m->vals[i] = val;
            return PL_OK;
        }
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = pl_strdup(key);
    if (!m->keys[i]) return pl_err(PL_ERR_NOMEM, "name table: out of memory");
    m->vals[i] = val;
    m->len++;
    return PL_OK;
}
