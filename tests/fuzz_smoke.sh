#!/usr/bin/env bash
# Short libFuzzer smoke run of the model loader, seeded with real models.
# usage: tests/fuzz_smoke.sh FUZZER SECONDS
set -eu
FUZZER=$1
SECONDS_=${2:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/corpus"
cp "$ROOT/examples/models/fashion_cnn/model.onnx" "$WORK/corpus/fashion_cnn.onnx" 2>/dev/null || true
for c in test_relu test_if test_loop11 test_scan9_sum test_lstm_defaults test_conv_with_strides_padding \
         test_sequence_insert_at_back test_optional_get_element test_cast_FLOAT_to_STRING test_resize_upsample_scales_linear; do
    f=/usr/share/libonnx-testdata/data/node/$c/model.onnx
    [ -f "$f" ] && cp "$f" "$WORK/corpus/$c.onnx"
done
"$FUZZER" -max_total_time="$SECONDS_" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
    -print_final_stats=1 "$WORK/corpus" 2>&1 | tail -15
