/* test_api_example.c - the example at the top of include/plaster.h, compiled and run on the
 * embedded Fashion-MNIST CNN: import -> build -> run, then check the logits against PyTorch's. */
#include "plaster.h"

#include <math.h>
#include <stdio.h>

#ifndef PL_SOURCE_DIR
#define PL_SOURCE_DIR "."
#endif

int main(void) {
    const char *path = PL_SOURCE_DIR "/examples/models/fashion_cnn/model.onnx";
    pl_model *model = NULL;
    pl_engine *engine = NULL;
    pl_context *ctx = NULL;
    if (pl_model_load(path, &model) != PL_OK || pl_engine_build(model, NULL, &engine) != PL_OK ||
        pl_context_create(engine, &ctx) != PL_OK) {
        fprintf(stderr, "plaster: %s\n", pl_last_error());
        return 1;
    }
    pl_tensor *in = NULL, *expected = NULL;
    if (pl_tensor_load_pb(PL_SOURCE_DIR "/examples/models/fashion_cnn/test_data_set_0/input_0.pb", &in) != PL_OK ||
        pl_tensor_load_pb(PL_SOURCE_DIR "/examples/models/fashion_cnn/test_data_set_0/output_0.pb", &expected) != PL_OK) {
        fprintf(stderr, "plaster: %s\n", pl_last_error());
        return 1;
    }
    pl_tensor *out[1] = {NULL};
    if (pl_context_run(ctx, 1, &in, 1, out) != PL_OK) {
        fprintf(stderr, "plaster: %s\n", pl_last_error());
        return 1;
    }
    char why[256];
    int ok = pl_tensor_compare(expected, out[0], 1e-3, 1e-5, why, sizeof why);
    if (!ok) fprintf(stderr, "logits differ from PyTorch's: %s\n", why);
    /* a second context on the same engine gives the same answer */
    pl_context *ctx2 = NULL;
    pl_tensor *out2[1] = {NULL};
    if (ok && (pl_context_create(engine, &ctx2) != PL_OK || pl_context_run(ctx2, 1, &in, 1, out2) != PL_OK ||
               !pl_tensor_compare(out[0], out2[0], 0, 0, why, sizeof why))) {
        fprintf(stderr, "second context: %s %s\n", pl_last_error(), why);
        ok = 0;
    }
    pl_tensor_destroy(out2[0]);
    pl_context_destroy(ctx2);
    pl_tensor_destroy(out[0]);
    pl_tensor_destroy(in);
    pl_tensor_destroy(expected);
    pl_context_destroy(ctx);
    pl_engine_destroy(engine);
    pl_model_destroy(model);
    printf("%s\n", ok ? "1 passed, 0 failed" : "0 passed, 1 failed");
    return ok ? 0 : 1;
}
