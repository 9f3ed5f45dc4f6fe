/* split.h - batch separability of a run (split.c), for batch splitting in cpu_exec.c. */
#ifndef PL_BACKEND_SPLIT_H
#define PL_BACKEND_SPLIT_H

#include "cpu.h"

/* Whether op is one of list's names (NULL-terminated). */
bool pl_op_listed(const char *op, const char *const *list);
/* Ops whose outputs differ between runs on the same inputs (NULL-terminated). */
extern const char *const pl_random_ops[];

enum { PL_VB_UNSET = 0, PL_VB_CONST = 1, PL_VB_BATCH = 2, PL_VB_MIXED = 3 };

/* Classifies xn's outputs in cls[] (one per value) from its inputs' classes and the shapes of
 * the run that just computed it (shape(user, v): value v's header, NULL when absent). Classes
 * are ordered so that a node's class starts as the largest of its inputs'. */
void pl_split_classify(const pl_xgraph *xg, const pl_xnode *xn, signed char *cls,
                       const pl_tensor *(*shape)(void *user, int v), void *user);

#endif
