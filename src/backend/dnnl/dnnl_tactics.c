/* dnnl_tactics.c - the oneDNN tactics, in the order pl_tactics_for offers them. */
#include "dnnl_util.h"

extern const pl_tactic pl_tactic_dnnl_conv, pl_tactic_dnnl_matmul, pl_tactic_dnnl_pool, pl_tactic_dnnl_rnn,
    pl_tactic_dnnl_eltwise, pl_tactic_dnnl_binary, pl_tactic_dnnl_softmax, pl_tactic_dnnl_norm,
    pl_tactic_dnnl_concat, pl_tactic_dnnl_resize;

const pl_tactic *const pl_dnnl_tactics[] = {
    &pl_tactic_dnnl_conv,
    &pl_tactic_dnnl_matmul,
    &pl_tactic_dnnl_pool,
    &pl_tactic_dnnl_rnn,
    &pl_tactic_dnnl_eltwise,
    &pl_tactic_dnnl_binary,
    &pl_tactic_dnnl_softmax,
    &pl_tactic_dnnl_norm,
    &pl_tactic_dnnl_concat,
    &pl_tactic_dnnl_resize,
    NULL,
};
