/* fixed.h - values fixed by the input shapes (fixed.c), which cpu_exec.c computes once per
 * arena plan instead of once per run. */
#ifndef PL_BACKEND_FIXED_H
#define PL_BACKEND_FIXED_H

#include "cpu.h"

/* Per value, in the recording run of a signature (input dtypes and dims): */
enum {
    PL_FX_KNOWN = 1, /* its shape follows from the input shapes (and constants) */
    PL_FX_FIXED = 2  /* its content does too: the same for every run of the signature */
};

/* Classifies xn's outputs in cls[] (one per value; constants and graph inputs set by the
 * caller: constants KNOWN | FIXED, inputs KNOWN) from its inputs' classes. */
void pl_fixed_classify(const pl_xnode *xn, signed char *cls);

#endif
