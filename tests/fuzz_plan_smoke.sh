#!/usr/bin/env bash
# Short libFuzzer smoke run of plan loading, seeded with plans built now (never committed) by
# the same build's CLI from small real models. usage: tests/fuzz_plan_smoke.sh FUZZER SECONDS PLASTER
set -eu
FUZZER=$1
SECONDS_=${2:-30}
PLASTER=$3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/corpus"
n=0
for f in "$ROOT/examples/models/fashion_cnn/model.onnx" \
         /usr/share/libonnx-testdata/data/node/test_relu/model.onnx \
         /usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding/model.onnx \
         /usr/share/libonnx-testdata/data/node/test_if/model.onnx; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    "$PLASTER" build "$f" -o "$WORK/corpus/seed$n.plan" --threads 1 --quiet || echo "note: no plan from $f"
done
ls "$WORK/corpus"/*.plan >/dev/null 2>&1 || { echo "no seed plan could be built"; exit 1; }
"$FUZZER" -max_total_time="$SECONDS_" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
    -print_final_stats=1 "$WORK/corpus" 2>&1 | tail -15
