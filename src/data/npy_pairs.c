/* npy_pairs.c - a folder holding inputs.npy + labels.npy (or x.npy + y.npy). */
#include "data.h"

pl_status pl_dataset_open_npy(pl_dataset *ds, const char *inputs, const char *labels,
                              const pl_norm_sources *norm) {
    pl_tensor *x = NULL, *y = NULL;
    PL_TRY(pl_tensor_load_npy(inputs, &x));
    pl_status st = pl_tensor_load_npy(labels, &y);
    if (st != PL_OK) {
        pl_tensor_destroy(x);
        return st;
    }
    st = pl_dataset_set_raw(ds, x, y, "npy", inputs, labels, norm);
    pl_tensor_destroy(y);
    return st;
}
