/* quant.c - reference kernels (to be filled). */
#include "ops.h"

const pl_op_schema pl_ops_quant[] = {
    {0},
};
