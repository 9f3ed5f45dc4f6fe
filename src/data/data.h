/* data.h - dataset readers. IDX files (MNIST, Fashion-MNIST; gzip or plain) for now. */
#ifndef PL_DATA_H
#define PL_DATA_H

#include "../core/core.h"

/* Reads an IDX file (optionally gzip-compressed) into a tensor of its element type (uint8,
 * int8, int16, int32, float, double) and dims. Refuses a bad magic, a truncated body or dims
 * whose product overflows, naming the file. */
pl_status pl_idx_load(const char *path, pl_tensor **out);

/* Debian's dataset-fashion-mnist folder (PL_FASHION_MNIST_DIR overrides it). */
const char *pl_fashion_mnist_dir(void);

#endif
