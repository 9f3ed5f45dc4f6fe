/* shape.h - the kernels shape_copy.c gives to the shape family's table in shape.c. */
#ifndef PL_OPS_SHAPE_H
#define PL_OPS_SHAPE_H

#include "ops.h"

pl_status pl_shape_transpose(pl_kernel_ctx *ctx);
pl_status pl_shape_concat(pl_kernel_ctx *ctx);
pl_status pl_shape_split(pl_kernel_ctx *ctx);
pl_status pl_shape_slice(pl_kernel_ctx *ctx);
pl_status pl_shape_expand(pl_kernel_ctx *ctx);
pl_status pl_shape_tile(pl_kernel_ctx *ctx);
pl_status pl_shape_pad(pl_kernel_ctx *ctx);
pl_status pl_shape_depth_to_space(pl_kernel_ctx *ctx);
pl_status pl_shape_space_to_depth(pl_kernel_ctx *ctx);
/* Reads a shape input (1-D integers, at most PL_MAX_RANK entries, none negative) into dims. */
pl_status pl_shape_input(const pl_tensor *s, int64_t *dims, int *rank);
/* Fills every element of t with the single element of v (same dtype); strings deep-copied. */
pl_status pl_shape_fill(pl_tensor *t, const pl_tensor *v);

#endif
