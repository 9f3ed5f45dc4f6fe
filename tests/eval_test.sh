#!/usr/bin/env bash
# `plaster eval` from the command line: the embedded model on real Fashion-MNIST images, the text
# and JSON reports, and one-line errors for bad datasets. usage: tests/eval_test.sh PLASTER
set -u
PLASTER=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODEL=$ROOT/examples/models/fashion_cnn/model.onnx
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 "$ROOT/tests/make_eval_fixtures.py" "$T" || { echo "cannot generate fixtures"; exit 1; }
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect CODE PATTERN -- command...: exit status CODE and one stderr line matching PATTERN
expect() {
    local code=$1 pattern=$2
    shift 3
    "$@" >"$T/out" 2>"$T/err"
    local rc=$? lines
    lines=$(wc -l <"$T/err")
    if [ "$rc" -eq "$code" ] && grep -qE -- "$pattern" "$T/err" && [ "$lines" -eq 1 ]; then ok
    else bad "$* -> exit $rc (want $code), stderr: $(cat "$T/err")"; fi
}

"$PLASTER" eval --help | grep -q "Wilson score" && ok || bad "eval --help"
"$PLASTER" eval --version | grep -q "^plaster " && ok || bad "eval --version"
"$PLASTER" --help | grep -q "eval" && ok || bad "eval missing from plaster --help"

# text report: units and methods named, nothing on stderr without a terminal
"$PLASTER" eval "$MODEL" --dataset fashion-mnist --limit 500 --batch 50 >"$T/text" 2>"$T/err"
if grep -q "samples:  500" "$T/text" && grep -qE "top-1: +[0-9.]+ % .*95% CI \[.*\] \(Wilson score interval\)" "$T/text" \
    && grep -q "from model metadata" "$T/text" && grep -qE "time: .* s wall clock" "$T/text" && [ ! -s "$T/err" ]; then ok
else bad "text report"; cat "$T/text" "$T/err"; fi

# JSON on the image folder: 6 images would need the C test's JPEGs; the 4 PNGs give 3 of 4
"$PLASTER" eval "$T/tiny.onnx" --dataset "$T/images" --json --mean 0,0,0 --std 1,1,1 >"$T/json" 2>"$T/err"
if /usr/bin/python3 - "$T/json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["samples"] == 4 and d["top1_correct"] == 3 and d["classes"] == 3, d
assert d["confusion"]["counts"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]], d["confusion"]
assert sum(map(sum, d["confusion"]["counts"])) == d["samples"]
assert [c["accuracy"] for c in d["per_class"]] == [0.5, 1.0, 1.0]
assert abs(d["top1_ci95"][0] - 0.300642) < 1e-5 and abs(d["top1_ci95"][1] - 0.954413) < 1e-5
assert "Wilson" in d["ci_method"] and "(from settings)" in d["dataset"]
PY
then ok; else bad "image folder JSON"; fi
[ ! -s "$T/err" ] && ok || bad "--json wrote to stderr"

expect 1 "--dataset is required"          -- "$PLASTER" eval "$MODEL"
expect 1 "no MODEL given"                 -- "$PLASTER" eval --dataset fashion-mnist
expect 1 "--limit needs a whole number"   -- "$PLASTER" eval "$MODEL" --dataset fashion-mnist --limit -3
expect 1 "--layout must be NCHW or NHWC"  -- "$PLASTER" eval "$MODEL" --dataset fashion-mnist --layout CHWN
expect 1 "--mean and --std must give"     -- "$PLASTER" eval "$MODEL" --dataset fashion-mnist --mean 0.5
expect 1 "nowhere: no such dataset"       -- "$PLASTER" eval "$MODEL" --dataset "$T/nowhere"
expect 1 "bad.png: not a readable PNG"    -- "$PLASTER" eval "$T/tiny.onnx" --dataset "$T/corrupt_png"
expect 1 "bad.jpg: corrupt JPEG"          -- "$PLASTER" eval "$T/tiny.onnx" --dataset "$T/corrupt_jpeg"
expect 1 "lonely-labels-idx1-ubyte: the labels file .* is missing" -- "$PLASTER" eval "$T/tiny.onnx" --dataset "$T/idx/lonely-images-idx3-ubyte"
expect 1 "2 labels for 3 samples"         -- "$PLASTER" eval "$T/tiny.onnx" --dataset "$T/idx/short-images-idx3-ubyte"
expect 1 "eval needs \[N, classes\]"      -- "$PLASTER" eval "$T/bad_output.onnx" --dataset "$T/npy"
expect 1 "samples are \[3,4,4\]"          -- "$PLASTER" eval "$MODEL" --dataset "$T/npy"
PL_FASHION_MNIST_DIR=$T expect 1 "t10k-images-idx3-ubyte.gz: missing" -- "$PLASTER" eval "$MODEL" --dataset fashion-mnist

# a plan from `plaster build` is evaluated on its cpu engine: the same answers as the ONNX model
"$PLASTER" build "$MODEL" -o "$T/model.plan" --quiet || bad "plaster build"
"$PLASTER" eval "$T/model.plan" --dataset fashion-mnist --limit 200 --batch 50 --json >"$T/plan.json" 2>"$T/err"
"$PLASTER" eval "$MODEL" --backend cpu --dataset fashion-mnist --limit 200 --batch 50 --json >"$T/cpu.json" 2>>"$T/err"
"$PLASTER" eval "$MODEL" --dataset fashion-mnist --limit 200 --batch 50 --json >"$T/ref.json" 2>>"$T/err"
if /usr/bin/python3 -c '
import json, sys
p, c, r = (json.load(open(f)) for f in sys.argv[1:4])
assert p["samples"] == 200 and p["top1_correct"] == c["top1_correct"] == r["top1_correct"], (p, c, r)
' "$T/plan.json" "$T/cpu.json" "$T/ref.json"; then ok; else bad "eval of a plan: $(cat "$T/err")"; fi
expect 1 "is a plan.*--backend reference cannot run it" -- "$PLASTER" eval "$T/model.plan" --backend reference --dataset fashion-mnist

echo "eval CLI: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
