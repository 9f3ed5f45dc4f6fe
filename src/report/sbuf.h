/* sbuf.h - a growable text buffer with printf, JSON and HTML escaping, for the report writers. */
#ifndef PL_SBUF_H
#define PL_SBUF_H

#include "../core/core.h"

typedef struct pl_sbuf {
    char *data;
    size_t len, cap;
    bool failed; /* an allocation failed: the text is incomplete */
} pl_sbuf;

void pl_sb_printf(pl_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pl_sb_json_str(pl_sbuf *b, const char *s);   /* "..." with JSON escapes */
void pl_sb_html(pl_sbuf *b, const char *s);       /* text with &, <, > and " escaped */
/* A JSON number, or null when not finite. */
void pl_sb_json_num(pl_sbuf *b, double v);
void pl_sb_free(pl_sbuf *b);
/* Writes the buffer to dir/name; error names the path. */
pl_status pl_sb_save(const pl_sbuf *b, const char *dir, const char *name);

#endif
