#!/usr/bin/env bash
# Exports real architectures with Debian's PyTorch (bench/models/export.py) and checks that
# `plaster run` matches PyTorch's own outputs within rtol 1e-3 (atol 1e-4), on the reference
# backend and on the cpu backend (default threads, then 2 threads); then checks the size
# analysis of ResNet-50 against its published figures (about 4.1 GMACs, 25.56 M parameters).
# usage: tests/torch_models_test.sh PLASTER MODELS_DIR
set -eu
PLASTER=$1
DIR=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
/usr/bin/python3 "$ROOT/bench/models/export.py" "$DIR" --set test
"$PLASTER" conformance "$DIR" --rtol 1e-3 --atol 1e-4 --verbose --quiet
"$PLASTER" conformance "$DIR" --rtol 1e-3 --atol 1e-4 --verbose --quiet --backend cpu
"$PLASTER" conformance "$DIR" --rtol 1e-3 --atol 1e-4 --verbose --quiet --backend cpu --threads 2
"$PLASTER" info "$DIR/resnet50/model.onnx" --size --json >"$DIR/resnet50-size.json"
/usr/bin/python3 - "$DIR/resnet50-size.json" <<'PY'
import json, sys
size = json.load(open(sys.argv[1]))["size"]
macs, params = size["macs"], size["params"]
# torchvision's ResNet-50: 4.09 GMACs and 25,557,032 parameters; the ONNX export folds each
# BatchNorm (2 parameters per channel) into its Conv's bias (1 per channel): 25,507,944.
assert abs(macs - 4.09e9) / 4.09e9 < 0.02, "ResNet-50 MACs %d, expected about 4.09e9" % macs
assert abs(params - 25.557e6) / 25.557e6 < 0.01, "ResNet-50 parameters %d, expected about 25.56e6" % params
conv = [l for l in size["layers"] if l["op"] == "Conv"]
assert len(conv) == 53 and conv[0]["macs"] == 64 * 112 * 112 * 3 * 7 * 7, conv[0]
print("ResNet-50: %.4f GMACs, %.3f M parameters (published: about 4.1 GMACs, 25.56 M)" % (macs / 1e9, params / 1e6))
PY
