#!/usr/bin/env bash
# Exports real architectures with Debian's PyTorch (bench/models/export.py) and checks that
# `plaster run` matches PyTorch's own outputs within rtol 1e-3 (atol 1e-4).
# usage: tests/torch_models_test.sh PLASTER MODELS_DIR
set -eu
PLASTER=$1
DIR=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
/usr/bin/python3 "$ROOT/bench/models/export.py" "$DIR" --set test
"$PLASTER" conformance "$DIR" --rtol 1e-3 --atol 1e-4 --verbose --quiet
