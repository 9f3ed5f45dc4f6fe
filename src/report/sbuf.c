/* sbuf.c - growable text buffer for the report writers. */
#include "sbuf.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(pl_sbuf *b, size_t extra) {
    if (b->failed) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap < b->len + extra + 1) ncap *= 2;
    char *n = realloc(b->data, ncap);
    if (!n) {
        b->failed = true;
        return false;
    }
    b->data = n;
    b->cap = ncap;
    return true;
}

void pl_sb_printf(pl_sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n)) return;
    if ((size_t)n < sizeof small) {
        memcpy(b->data + b->len, small, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void pl_sb_json_str(pl_sbuf *b, const char *s) {
    pl_sb_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') pl_sb_printf(b, "\\%c", *p);
        else if (*p == '\n') pl_sb_printf(b, "\\n");
        else if (*p < 0x20) pl_sb_printf(b, "\\u%04x", *p);
        else pl_sb_printf(b, "%c", *p);
    }
    pl_sb_printf(b, "\"");
}

void pl_sb_html(pl_sbuf *b, const char *s) {
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '&') pl_sb_printf(b, "&amp;");
        else if (*p == '<') pl_sb_printf(b, "&lt;");
        else if (*p == '>') pl_sb_printf(b, "&gt;");
        else if (*p == '"') pl_sb_printf(b, "&quot;");
        else pl_sb_printf(b, "%c", *p);
    }
}

void pl_sb_json_num(pl_sbuf *b, double v) {
    if (isfinite(v)) pl_sb_printf(b, "%.6g", v);
    else pl_sb_printf(b, "null");
}

void pl_sb_free(pl_sbuf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

pl_status pl_sb_save(const pl_sbuf *b, const char *dir, const char *name) {
    if (b->failed) return pl_err(PL_ERR_NOMEM, "out of memory while writing %s", name);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return pl_err(PL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    size_t w = b->len ? fwrite(b->data, 1, b->len, f) : 0;
    if (fclose(f) != 0 || w != b->len) return pl_err(PL_ERR_IO, "%s: write failed", path);
    return PL_OK;
}
