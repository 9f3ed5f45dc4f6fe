/* fuzz_load.c - libFuzzer target for the model loader: any byte string either loads or is
 * refused with a message; it never crashes, leaks or reads out of bounds. */
#include "plaster.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pl_model *m = NULL;
    pl_status st = pl_model_load_bytes(data, size, "/nonexistent-fuzz-dir", &m);
    if (st != PL_OK) {
        if (m || pl_last_error()[0] == 0) __builtin_trap(); /* failure must say why */
        return 0;
    }
    pl_model_summary s;
    pl_model_summary_get(m, &s);
    for (int i = 0; i < pl_model_input_count(m); i++) {
        pl_io_info info;
        pl_model_input_info(m, i, &info);
    }
    for (int i = 0; i < pl_model_op_count(m); i++) {
        const char *op;
        int64_t count;
        int ok;
        pl_model_op_get(m, i, &op, &count, &ok);
    }
    pl_model_destroy(m);
    return 0;
}
