#!/usr/bin/env bash
# The conformance ratchet: runs the ONNX backend-test suite and fails when fewer cases pass
# than the baseline records (raise the baseline as coverage grows). BACKEND (default reference)
# is passed to `plaster conformance --backend`; the cpu backend's baseline is
# tests/conformance-baseline-cpu.txt.
# usage: tests/conformance_ratchet.sh PLASTER [BASELINE] [BACKEND]
set -u
PLASTER=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASELINE=${2:-$ROOT/tests/conformance-baseline.txt}
BACKEND=${3:-reference}
want=$(grep -Eo '^[0-9]+' "$BASELINE" | head -1)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$PLASTER" conformance --quiet --backend "$BACKEND" >"$out" 2>&1
rc=$?
tail -8 "$out"
if [ $rc -gt 1 ]; then
    echo "conformance run crashed or errored (exit $rc)"
    grep -v '^FAIL' "$out" | tail -20
    exit 1
fi
got=$(tail -1 "$out" | grep -Eo '^[0-9]+')
if [ -z "$got" ]; then echo "no summary line"; exit 1; fi
if [ "$got" -lt "$want" ]; then
    echo "REGRESSION: $got cases pass, baseline is $want. Failures:"
    grep '^FAIL' "$out"
    exit 1
fi
echo "ratchet ($BACKEND): $got passed >= baseline $want"
