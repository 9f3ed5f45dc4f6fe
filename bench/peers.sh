#!/usr/bin/env bash
# The peer benchmark in one command: plaster against ONNX Runtime, OpenVINO and PyTorch on the same
# models, threads, batches and inputs, written to build/peers/results.{json,md}. See docs/PERFORMANCE.md.
#
# usage: bash bench/peers.sh [--quick] [--threads 1,2] [--batch 1,32] [--repeats 3] [--models a,b]
#        [--duration S] [--warmup-ms MS] [--min-queries N] [--max-run-s S] [-o build/peers] [--quiet]
#        bash bench/peers.sh --write-doc [-o build/peers]   (rewrite docs/PERFORMANCE.md's results)
#
# Set-up, each step skipped when already done: builds plaster (make build), makes the venv
# build/peers-venv with the python3 on PATH and pip-installs onnxruntime, openvino and numpy, and
# exports the models with Debian's PyTorch (bench/models/export.py --set bench) into build/peers-models.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV=build/peers-venv
SYS_PY=/usr/bin/python3

# bad arguments: one line, before any slow step
"$SYS_PY" bench/peers.py --validate-only "$@" || exit 2

quiet=0 write_doc=0 models=""
prev=""
for arg in "$@"; do
    case "$arg" in
    --quiet) quiet=1 ;;
    --write-doc) write_doc=1 ;;
    -h | --help) exec "$SYS_PY" bench/peers.py --help ;;
    esac
    [ "$prev" = "--models" ] && models="$arg"
    prev="$arg"
done
say() { [ "$quiet" = 1 ] || echo "peers: $*" >&2; }

if [ "$write_doc" = 1 ]; then
    exec "$SYS_PY" bench/peers.py "$@"
fi

if [ ! -x build/plaster ]; then
    say "building plaster (make build)"
    make build >&2
fi

if ! "$VENV/bin/python" -c "import onnxruntime, openvino, numpy" 2>/dev/null; then
    say "setting up $VENV (onnxruntime, openvino, numpy from PyPI)"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check onnxruntime openvino numpy >&2
fi
say "$("$VENV/bin/python" -c 'import sys, onnxruntime, openvino, numpy; print("python %s, onnxruntime %s, openvino %s, numpy %s" % (sys.version.split()[0], onnxruntime.__version__, openvino.__version__, numpy.__version__))')"
say "$("$SYS_PY" -c 'import torch; print("torch %s (Debian, /usr/bin/python3)" % torch.__version__)')"

export_args=(build/peers-models --set bench)
[ -n "$models" ] && export_args+=(--only "$models")
if [ "$quiet" = 1 ]; then
    "$SYS_PY" bench/models/export.py "${export_args[@]}" >/dev/null
else
    "$SYS_PY" bench/models/export.py "${export_args[@]}" | sed 's/^/peers: /' >&2
fi

exec "$VENV/bin/python" bench/peers.py "$@"
