/* dnnl_tactics.c - the oneDNN tactics, in the order pl_tactics_for offers them. */
#include "dnnl_util.h"

extern const pl_tactic pl_tactic_dnnl_conv, pl_tactic_dnnl_matmul, pl_tactic_dnnl_pool, pl_tactic_dnnl_rnn;

const pl_tactic *const pl_dnnl_tactics[] = {
    &pl_tactic_dnnl_conv,
    &pl_tactic_dnnl_matmul,
    &pl_tactic_dnnl_pool,
    &pl_tactic_dnnl_rnn,
    NULL,
};
