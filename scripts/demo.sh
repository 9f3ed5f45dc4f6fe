#!/usr/bin/env bash
# The demo: describe the embedded default model (a CNN trained on Fashion-MNIST), show what the
# cpu engine's passes make of it and build its plan, run it on its four test images, check the
# outputs against PyTorch's on both backends, and write the PLASTER report on it.
# usage: scripts/demo.sh PLASTER
set -eu
PLASTER=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CASE=$ROOT/examples/models/fashion_cnn
MODEL=$CASE/model.onnx
OUT=${PL_DEMO_OUT:-$ROOT/build/demo}
echo "== plaster info --size $MODEL"
"$PLASTER" info "$MODEL" --size
echo
echo "== plaster build (cpu engine: graph passes, tactics timed on this machine) -> $OUT/model.plan"
mkdir -p "$OUT"
"$PLASTER" build "$MODEL" -o "$OUT/model.plan"
echo
echo "== plaster run of the plan (4 Fashion-MNIST test images) -> $OUT"
"$PLASTER" run "$OUT/model.plan" --input-dir "$CASE/test_data_set_0" --output-dir "$OUT"
echo
echo "== outputs against PyTorch's (the conformance comparer, rtol 1e-3, atol 1e-5), both backends"
"$PLASTER" conformance "$CASE" --verbose --quiet
"$PLASTER" conformance "$CASE" --verbose --quiet --backend cpu
echo
echo "== plaster report (machine, size, latency, throughput, energy, accuracy on Fashion-MNIST)"
"$PLASTER" report "$MODEL" --dataset fashion-mnist --duration 2 -o "$ROOT/build/report"
