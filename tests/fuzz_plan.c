/* fuzz_plan.c - libFuzzer target for plan loading: any byte string either loads as a plan or is
 * refused with a message; it never crashes, leaks or reads out of bounds. Inputs of even size
 * get their size field and CRC-32 fixed up first, so that mutations reach the field parser and
 * the embedded model behind the checksum; odd sizes exercise the checks themselves. */
#include "plaster.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    if (size % 2 == 0 && size >= 24) { /* magic 8, version 4, total size 8, ..., CRC-32 4 */
        for (int i = 0; i < 8; i++) buf[12 + i] = (uint8_t)((uint64_t)size >> (8 * i));
        uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)(size - 4));
        for (int i = 0; i < 4; i++) buf[size - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
    }
    pl_model *m = NULL;
    pl_engine *e = NULL;
    pl_status st = pl_plan_load_bytes(buf, size, "/nonexistent-fuzz-dir/fuzz.plan", NULL, &m, &e);
    free(buf);
    if (st != PL_OK) {
        if (m || e || pl_last_error()[0] == 0) __builtin_trap(); /* failure must say why */
        return 0;
    }
    for (int i = 0; i < pl_engine_node_count(e); i++) {
        pl_engine_node n;
        if (pl_engine_node_info(e, i, &n) != PL_OK || !n.tactic) __builtin_trap();
    }
    pl_engine_destroy(e);
    pl_model_destroy(m);
    return 0;
}
