/* dtype.c - element types, half-precision conversion, generic element access and casts. */
#include "core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pl_dtype_name(pl_dtype t) {
    switch (t) {
    case PL_DT_FLOAT: return "float";
    case PL_DT_UINT8: return "uint8";
    case PL_DT_INT8: return "int8";
    case PL_DT_UINT16: return "uint16";
    case PL_DT_INT16: return "int16";
    case PL_DT_INT32: return "int32";
    case PL_DT_INT64: return "int64";
    case PL_DT_STRING: return "string";
    case PL_DT_BOOL: return "bool";
    case PL_DT_FLOAT16: return "float16";
    case PL_DT_DOUBLE: return "double";
    case PL_DT_UINT32: return "uint32";
    case PL_DT_UINT64: return "uint64";
    case PL_DT_COMPLEX64: return "complex64";
    case PL_DT_COMPLEX128: return "complex128";
    case PL_DT_BFLOAT16: return "bfloat16";
    default: return "undefined";
    }
}

size_t pl_dtype_size(pl_dtype t) {
    switch (t) {
    case PL_DT_BOOL:
    case PL_DT_UINT8:
    case PL_DT_INT8: return 1;
    case PL_DT_UINT16:
    case PL_DT_INT16:
    case PL_DT_FLOAT16:
    case PL_DT_BFLOAT16: return 2;
    case PL_DT_FLOAT:
    case PL_DT_INT32:
    case PL_DT_UINT32: return 4;
    case PL_DT_DOUBLE:
    case PL_DT_INT64:
    case PL_DT_UINT64:
    case PL_DT_COMPLEX64: return 8;
    case PL_DT_COMPLEX128: return 16;
    default: return 0;
    }
}

bool pl_dtype_valid(int t) {
    return t >= PL_DT_FLOAT && t <= PL_DT_BFLOAT16 && t != PL_DT_COMPLEX64 &&
           t != PL_DT_COMPLEX128;
}

bool pl_dtype_is_float(pl_dtype t) {
    return t == PL_DT_FLOAT || t == PL_DT_DOUBLE || t == PL_DT_FLOAT16 || t == PL_DT_BFLOAT16;
}

bool pl_dtype_is_int(pl_dtype t) {
    switch (t) {
    case PL_DT_UINT8:
    case PL_DT_INT8:
    case PL_DT_UINT16:
    case PL_DT_INT16:
    case PL_DT_INT32:
    case PL_DT_INT64:
    case PL_DT_UINT32:
    case PL_DT_UINT64: return true;
    default: return false;
    }
}

bool pl_dtype_is_signed(pl_dtype t) {
    return t == PL_DT_INT8 || t == PL_DT_INT16 || t == PL_DT_INT32 || t == PL_DT_INT64 ||
           pl_dtype_is_float(t);
}

float pl_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal */
            float f = ldexpf((float)man, -24);
            return (h & 0x8000) ? -f : f;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t pl_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t exp = (x >> 23) & 0xff;
    uint32_t man = x & 0x7fffff;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t half_man = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (half_man & 1))) half_man++;
        return (uint16_t)(sign | half_man);
    }
    uint32_t half = sign | ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return (uint16_t)half;
}

float pl_bf16_to_float(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t pl_float_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);
    uint32_t lsb = (x >> 16) & 1;
    x += 0x7fff + lsb;
    return (uint16_t)(x >> 16);
}

double pl_get_f64(const pl_tensor *t, int64_t i) {
    const void *d = t->data;
    switch (t->dtype) {
    case PL_DT_FLOAT: return ((const float *)d)[i];
    case PL_DT_DOUBLE: return ((const double *)d)[i];
    case PL_DT_FLOAT16: return pl_half_to_float(((const uint16_t *)d)[i]);
    case PL_DT_BFLOAT16: return pl_bf16_to_float(((const uint16_t *)d)[i]);
    case PL_DT_UINT8: return ((const uint8_t *)d)[i];
    case PL_DT_INT8: return ((const int8_t *)d)[i];
    case PL_DT_UINT16: return ((const uint16_t *)d)[i];
    case PL_DT_INT16: return ((const int16_t *)d)[i];
    case PL_DT_INT32: return ((const int32_t *)d)[i];
    case PL_DT_INT64: return (double)((const int64_t *)d)[i];
    case PL_DT_UINT32: return ((const uint32_t *)d)[i];
    case PL_DT_UINT64: return (double)((const uint64_t *)d)[i];
    case PL_DT_BOOL: return ((const uint8_t *)d)[i] ? 1.0 : 0.0;
    default: return 0.0;
    }
}

/* Saturating-free conversion of a double to an integer type as C does, but defined for NaN and
 * out-of-range values (which are UB in C): NaN -> 0, out of range -> wrap through int64. */
static int64_t f64_to_i64(double v) {
    if (isnan(v)) return 0;
    if (v >= 9.2233720368547758e18) return INT64_MAX;
    if (v <= -9.2233720368547758e18) return INT64_MIN;
    return (int64_t)v;
}

void pl_set_f64(pl_tensor *t, int64_t i, double v) {
    void *d = t->data;
    switch (t->dtype) {
    case PL_DT_FLOAT: ((float *)d)[i] = (float)v; break;
    case PL_DT_DOUBLE: ((double *)d)[i] = v; break;
    case PL_DT_FLOAT16: ((uint16_t *)d)[i] = pl_float_to_half((float)v); break;
    case PL_DT_BFLOAT16: ((uint16_t *)d)[i] = pl_float_to_bf16((float)v); break;
    case PL_DT_UINT8: ((uint8_t *)d)[i] = (uint8_t)f64_to_i64(v); break;
    case PL_DT_INT8: ((int8_t *)d)[i] = (int8_t)f64_to_i64(v); break;
    case PL_DT_UINT16: ((uint16_t *)d)[i] = (uint16_t)f64_to_i64(v); break;
    case PL_DT_INT16: ((int16_t *)d)[i] = (int16_t)f64_to_i64(v); break;
    case PL_DT_INT32: ((int32_t *)d)[i] = (int32_t)f64_to_i64(v); break;
    case PL_DT_INT64: ((int64_t *)d)[i] = f64_to_i64(v); break;
    case PL_DT_UINT32: ((uint32_t *)d)[i] = (uint32_t)f64_to_i64(v); break;
    case PL_DT_UINT64:
        ((uint64_t *)d)[i] = v >= 18446744073709551616.0 ? UINT64_MAX
                             : v >= 9.2233720368547758e18 ? (uint64_t)v
                                                          : (uint64_t)f64_to_i64(v);
        break;
    case PL_DT_BOOL: ((uint8_t *)d)[i] = v != 0.0; break;
    default: break;
    }
}

int64_t pl_get_i64(const pl_tensor *t, int64_t i) {
    const void *d = t->data;
    switch (t->dtype) {
    case PL_DT_INT64: return ((const int64_t *)d)[i];
    case PL_DT_INT32: return ((const int32_t *)d)[i];
    case PL_DT_UINT64: return (int64_t)((const uint64_t *)d)[i];
    case PL_DT_UINT32: return ((const uint32_t *)d)[i];
    case PL_DT_INT16: return ((const int16_t *)d)[i];
    case PL_DT_UINT16: return ((const uint16_t *)d)[i];
    case PL_DT_INT8: return ((const int8_t *)d)[i];
    case PL_DT_UINT8:
    case PL_DT_BOOL: return ((const uint8_t *)d)[i];
    default: return f64_to_i64(pl_get_f64(t, i));
    }
}

void pl_set_i64(pl_tensor *t, int64_t i, int64_t v) {
    void *d = t->data;
    switch (t->dtype) {
    case PL_DT_INT64: ((int64_t *)d)[i] = v; break;
    case PL_DT_INT32: ((int32_t *)d)[i] = (int32_t)v; break;
    case PL_DT_UINT64: ((uint64_t *)d)[i] = (uint64_t)v; break;
    case PL_DT_UINT32: ((uint32_t *)d)[i] = (uint32_t)v; break;
    case PL_DT_INT16: ((int16_t *)d)[i] = (int16_t)v; break;
    case PL_DT_UINT16: ((uint16_t *)d)[i] = (uint16_t)v; break;
    case PL_DT_INT8: ((int8_t *)d)[i] = (int8_t)v; break;
    case PL_DT_UINT8: ((uint8_t *)d)[i] = (uint8_t)v; break;
    case PL_DT_BOOL: ((uint8_t *)d)[i] = v != 0; break;
    default: pl_set_f64(t, i, (double)v); break;
    }
}

static pl_status cast_to_string(const pl_tensor *src, pl_tensor *dst) {
    char **out = dst->data;
    for (int64_t i = 0; i < src->numel; i++) {
        char buf[64];
        if (src->dtype == PL_DT_BOOL)
            snprintf(buf, sizeof buf, "%s", pl_get_i64(src, i) ? "1" : "0");
        else if (pl_dtype_is_float(src->dtype)) {
            double v = pl_get_f64(src, i);
            if (isnan(v)) snprintf(buf, sizeof buf, "NaN");
            else if (isinf(v)) snprintf(buf, sizeof buf, v > 0 ? "INF" : "-INF");
            else snprintf(buf, sizeof buf, "%.9g", v);
        } else if (src->dtype == PL_DT_UINT64)
            snprintf(buf, sizeof buf, "%llu", (unsigned long long)pl_get_i64(src, i));
        else
            snprintf(buf, sizeof buf, "%lld", (long long)pl_get_i64(src, i));
        free(out[i]);
        out[i] = pl_strdup(buf);
        if (!out[i]) return pl_err(PL_ERR_NOMEM, "Cast: out of memory");
    }
    return PL_OK;
}

static void cast_from_string(const pl_tensor *src, pl_tensor *dst) {
    char *const *in = src->data;
    for (int64_t i = 0; i < src->numel; i++) {
        const char *s = in[i] ? in[i] : "";
        if (pl_dtype_is_float(dst->dtype)) {
            pl_set_f64(dst, i, strtod(s, NULL));
        } else if (dst->dtype == PL_DT_UINT64) {
            ((uint64_t *)dst->data)[i] = strtoull(s, NULL, 10);
        } else {
            pl_set_i64(dst, i, strtoll(s, NULL, 10));
        }
    }
}

pl_status pl_tensor_cast(const pl_tensor *src, pl_dtype to, pl_tensor **out) {
    *out = NULL;
    pl_tensor *dst;
    PL_TRY(pl_tensor_create(to, src->rank, src->dims, &dst));
    pl_status st = PL_OK;
    if (to == PL_DT_STRING && src->dtype == PL_DT_STRING) {
        for (int64_t i = 0; i < src->numel && st == PL_OK; i++) {
            ((char **)dst->data)[i] = pl_strdup(((char *const *)src->data)[i]);
            if (!((char **)dst->data)[i]) st = pl_err(PL_ERR_NOMEM, "Cast: out of memory");
        }
    } else if (to == PL_DT_STRING) {
        st = cast_to_string(src, dst);
    } else if (src->dtype == PL_DT_STRING) {
        cast_from_string(src, dst);
    } else if (src->dtype == to) {
        memcpy(dst->data, src->data, src->nbytes);
    } else if (pl_dtype_is_float(src->dtype) || pl_dtype_is_float(to)) {
        if (src->dtype == PL_DT_FLOAT && to == PL_DT_FLOAT16) {
            for (int64_t i = 0; i < src->numel; i++)
                ((uint16_t *)dst->data)[i] = pl_float_to_half(((const float *)src->data)[i]);
        } else if (pl_dtype_is_int(src->dtype) && pl_dtype_is_float(to) &&
                   (src->dtype == PL_DT_INT64 || src->dtype == PL_DT_UINT64)) {
            for (int64_t i = 0; i < src->numel; i++) {
                if (src->dtype == PL_DT_UINT64)
                    pl_set_f64(dst, i, (double)((const uint64_t *)src->data)[i]);
                else
                    pl_set_f64(dst, i, (double)((const int64_t *)src->data)[i]);
            }
        } else {
            for (int64_t i = 0; i < src->numel; i++) pl_set_f64(dst, i, pl_get_f64(src, i));
        }
    } else {
        for (int64_t i = 0; i < src->numel; i++) pl_set_i64(dst, i, pl_get_i64(src, i));
    }
    if (st != PL_OK) {
        pl_tensor_destroy(dst);
        return st;
    }
    *out = dst;
    return PL_OK;
}
