/* core.h - tensors, dtypes, fp16/bf16 conversion, errors and a string map.
 * Everything above src/core builds on this header. */
#ifndef PL_CORE_H
#define PL_CORE_H

#include "plaster.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors ---- */

/* Record the message for this thread and return `status` (so: `return pl_err(...)`). */
pl_status pl_err(pl_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current message with "prefix: " (adds context on the way up). */
pl_status pl_err_prefix(pl_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pl_err_clear(void);

#define PL_TRY(expr)                                                                               \
    do {                                                                                           \
        pl_status try_status_ = (expr);                                                            \
        if (try_status_ != PL_OK) return try_status_;                                              \
    } while (0)

/* ---- checked arithmetic for sizes ---- */

/* a*b into *out; false on overflow or a negative operand. */
bool pl_mul_size(int64_t a, int64_t b, int64_t *out);

/* ---- tensors ---- */

typedef enum pl_kind {
    PL_KIND_TENSOR = 0,
    PL_KIND_SEQUENCE = 1,
    PL_KIND_NONE = 2 /* an empty optional */
} pl_kind;

struct pl_tensor {
    pl_kind kind;
    pl_dtype dtype;
    int rank;
    int64_t dims[PL_MAX_RANK];
    int64_t numel;
    size_t nbytes;   /* bytes of data (numel * element size; pointers for strings) */
    void *data;      /* row-major; char ** for strings (each NUL-terminated, owned) */
    bool owns_data;  /* false for views over someone else's memory */
    /* sequences */
    int seq_len;
    pl_tensor **seq; /* owned items */
    pl_dtype seq_elem_dtype; /* element type of an empty sequence */
};

/* Like pl_tensor_create, but does not zero the data (the caller fills it). */
pl_status pl_tensor_alloc(pl_dtype dtype, int rank, const int64_t *dims, pl_tensor **out);
/* A tensor viewing `data` (borrowed) with the given shape. */
pl_status pl_tensor_view(pl_dtype dtype, int rank, const int64_t *dims, void *data,
                         pl_tensor **out);
/* A deep copy. */
pl_status pl_tensor_clone(const pl_tensor *src, pl_tensor **out);
/* Empty optional. */
pl_status pl_tensor_none(pl_tensor **out);
/* Product of dims with overflow check; false on overflow or negative dims. */
bool pl_dims_numel(int rank, const int64_t *dims, int64_t *out);
/* "[1,3,224,224]" into buf. */
const char *pl_dims_str(int rank, const int64_t *dims, char *buf, size_t size);
bool pl_dtype_is_float(pl_dtype t);   /* float, double, float16, bfloat16 */
bool pl_dtype_is_int(pl_dtype t);     /* signed or unsigned integer (not bool) */
bool pl_dtype_is_signed(pl_dtype t);
bool pl_dtype_valid(int t);           /* a known, non-complex ONNX element type */

/* Generic element access through double (slow path; fine for small tensors and indices). */
double pl_get_f64(const pl_tensor *t, int64_t i);
void pl_set_f64(pl_tensor *t, int64_t i, double v);
int64_t pl_get_i64(const pl_tensor *t, int64_t i);
void pl_set_i64(pl_tensor *t, int64_t i, int64_t v);
/* Convert element-wise to another dtype (ONNX Cast semantics for numbers). */
pl_status pl_tensor_cast(const pl_tensor *src, pl_dtype to, pl_tensor **out);

/* ---- half precision ---- */
float pl_half_to_float(uint16_t h);
uint16_t pl_float_to_half(float f);       /* round to nearest even */
float pl_bf16_to_float(uint16_t b);
uint16_t pl_float_to_bf16(float f);       /* round to nearest even */

/* ---- string map (name -> int) ---- */
typedef struct pl_strmap {
    char **keys; /* owned copies */
    int *vals;
    size_t cap, len;
} pl_strmap;
void pl_strmap_init(pl_strmap *m);
void pl_strmap_free(pl_strmap *m);
/* -1 when absent. */
int pl_strmap_get(const pl_strmap *m, const char *key);
pl_status pl_strmap_put(pl_strmap *m, const char *key, int val);

char *pl_strdup(const char *s);
/* Read a whole file; *out is malloc'ed (caller frees). */
pl_status pl_read_file(const char *path, void **out, size_t *size);

#endif
