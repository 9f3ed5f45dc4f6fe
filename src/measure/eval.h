/* eval.h - the pieces of dataset evaluation that tests pin directly. */
#ifndef PL_EVAL_H
#define PL_EVAL_H

#include <stdint.h>

/* Wilson score interval for `successes` out of `n` trials at normal quantile z (1.959964 for
 * 95%): centre (p + z^2/2n) / (1 + z^2/n), half-width z/(1 + z^2/n) sqrt(p(1-p)/n + z^2/4n^2).
 * n = 0 gives [0, 1]. */
void pl_wilson_interval(int64_t successes, int64_t n, double z, double *lo, double *hi);

/* Rank of class `label` among `n` scores: how many score higher, or equal with a lower index
 * (0 = argmax, first index winning ties). NaN scores rank below every number. */
int64_t pl_score_rank(const double *scores, int64_t n, int64_t label);

#endif
