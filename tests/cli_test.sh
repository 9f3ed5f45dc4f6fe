#!/usr/bin/env bash
# CLI tests: every bad input gets a one-line error naming what is wrong and the documented exit
# status (1 error, 2 unsupported); good input works. usage: tests/cli_test.sh PLASTER
set -u
PLASTER=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 "$ROOT/tests/make_bad_inputs.py" "$T" || { echo "cannot generate bad inputs"; exit 1; }
pass=0
fail=0

# expect CODE PATTERN -- command...: exit status CODE, stderr one line matching PATTERN, no crash
expect() {
    local code=$1 pattern=$2
    shift 3
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    local lines
    lines=$(wc -l <"$T/err")
    if [ "$rc" -eq "$code" ] && grep -qE -- "$pattern" "$T/err" && [ "$lines" -eq 1 ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $* -> exit $rc (want $code), stderr ($lines lines):"
        sed 's/^/    /' "$T/err"
    fi
}

M=$T
expect 1 "empty"                   -- "$PLASTER" run "$M/empty.onnx" --input-dir "$M/good" --output-dir "$T/o"
expect 1 "protobuf parse failed"   -- "$PLASTER" run "$M/text.onnx" --input-dir "$M/good" --output-dir "$T/o"
expect 1 "truncated.onnx"          -- "$PLASTER" run "$M/truncated.onnx" --input-dir "$M/good" --output-dir "$T/o"
expect 1 "cannot open"             -- "$PLASTER" run "$M/absent.onnx" --input-dir "$M/good" --output-dir "$T/o"
expect 1 "takes 1 inputs"          -- "$PLASTER" run "$M/relu.onnx" --input-dir "$M/too_many" --output-dir "$T/o"
expect 1 "input_0.pb: missing"     -- "$PLASTER" run "$M/relu.onnx" --input-dir "$M/empty_dir" --output-dir "$T/o"
expect 1 "'x' must be float, got int64" -- "$PLASTER" run "$M/relu.onnx" --input-dir "$M/wrong_type" --output-dir "$T/o"
expect 1 "'x' must have rank 2"    -- "$PLASTER" run "$M/relu.onnx" --input-dir "$M/wrong_rank" --output-dir "$T/o"
expect 1 "dim 1 must be 4"         -- "$PLASTER" run "$M/relu.onnx" --input-dir "$M/wrong_dim" --output-dir "$T/o"
expect 1 "overflows"               -- "$PLASTER" run "$M/relu.onnx" --input-dir "$M/huge_input" --output-dir "$T/o"
expect 1 "initializer 'w'.*overflows" -- "$PLASTER" run "$M/overflow_init.onnx" --input-dir "$M/good" --output-dir "$T/o"
expect 1 "weights_absent.bin"      -- "$PLASTER" run "$M/missing_external.onnx" --input-dir "$M/good" --output-dir "$T/o"
expect 1 "leaves the model's folder" -- "$PLASTER" run "$M/escaping_external.onnx" --input-dir "$M/good" --output-dir "$T/o"
expect 2 "com.example.unknown"     -- "$PLASTER" run "$M/unknown_domain.onnx" --input-dir "$M/good" --output-dir "$T/o"
expect 2 "FrobnicateTensor"        -- "$PLASTER" run "$M/unsupported_op.onnx" --input-dir "$M/good" --output-dir "$T/o"
expect 1 "node 'add0'.*'ghost'"    -- "$PLASTER" run "$M/undefined_input.onnx" --input-dir "$M/good" --output-dir "$T/o"
expect 1 "node 'big' \(ConstantOfShape\).*more than the limit" -- "$PLASTER" run "$M/hostile_shape.onnx" --input-dir "$M/hostile_in" --output-dir "$T/o"
expect 1 "output-dir is required"  -- "$PLASTER" run "$M/relu.onnx" --input-dir "$M/good"
expect 1 "unknown command"         -- "$PLASTER" frobnicate
expect 1 "--format must be"        -- "$PLASTER" run "$M/relu.onnx" --input-dir "$M/good" --output-dir "$T/o" --format xml
expect 2 "FrobnicateTensor"        -- "$PLASTER" info "$M/unsupported_op.onnx" --json
expect 1 "unknown backend 'nosuch'" -- "$PLASTER" run "$M/relu.onnx" --input-dir "$M/good" --output-dir "$T/o" --backend nosuch
expect 1 "unknown backend 'nosuch'" -- "$PLASTER" conformance --backend nosuch

# the cpu backend reports bad models and inputs in the reference's words, on one line
same_error() {
    local model=$1 dir=$2
    "$PLASTER" run "$M/$model" --input-dir "$M/$dir" --output-dir "$T/o" >/dev/null 2>"$T/err_ref"
    local rc_ref=$?
    "$PLASTER" run "$M/$model" --input-dir "$M/$dir" --output-dir "$T/o" --backend cpu >/dev/null 2>"$T/err_cpu"
    local rc_cpu=$?
    # an unsupported op is named with the backend that lacks it
    sed -i 's/by the reference backend/by the cpu backend/' "$T/err_ref"
    if [ "$rc_ref" -eq "$rc_cpu" ] && [ "$rc_ref" -ne 0 ] && [ "$(wc -l <"$T/err_cpu")" -eq 1 ] && cmp -s "$T/err_ref" "$T/err_cpu"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: --backend cpu on $model/$dir: exit $rc_cpu (reference $rc_ref)"
        sed 's/^/    ref: /' "$T/err_ref"
        sed 's/^/    cpu: /' "$T/err_cpu"
    fi
}
for pair in empty.onnx:good text.onnx:good truncated.onnx:good relu.onnx:too_many relu.onnx:empty_dir \
            relu.onnx:wrong_type relu.onnx:wrong_rank relu.onnx:wrong_dim relu.onnx:huge_input \
            overflow_init.onnx:good missing_external.onnx:good unknown_domain.onnx:good \
            unsupported_op.onnx:good undefined_input.onnx:good hostile_shape.onnx:hostile_in; do
    same_error "${pair%%:*}" "${pair#*:}"
done

# good paths: run writes the output; info and --help and --version work
if "$PLASTER" run "$M/relu.onnx" --input-dir "$M/good" --output-dir "$T/ok" --quiet && [ -f "$T/ok/output_0.pb" ] &&
   "$PLASTER" run "$M/relu.onnx" --input-dir "$M/good" --output-dir "$T/okc" --backend cpu --quiet && cmp -s "$T/ok/output_0.pb" "$T/okc/output_0.pb"; then
    pass=$((pass + 1))
else
    fail=$((fail + 1)); echo "FAIL: good run"
fi
"$PLASTER" run "$M/relu.onnx" --input-dir "$M/good" --output-dir "$T/okj" --json >"$T/json" 2>&1
if /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['outputs'][0]['shape']==[1,4]" "$T/json"; then
    pass=$((pass + 1))
else
    fail=$((fail + 1)); echo "FAIL: run --json"; cat "$T/json"
fi
"$PLASTER" info "$M/relu.onnx" --json >"$T/info.json"
if /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['inputs'][0]['shape']==['N',4] and d['all_ops_supported']" "$T/info.json"; then
    pass=$((pass + 1))
else
    fail=$((fail + 1)); echo "FAIL: info --json"; cat "$T/info.json"
fi
# info --passes: the cpu engine's pass log, node counts and tactics
"$PLASTER" info "$M/relu.onnx" --passes --json >"$T/passes.json"
if /usr/bin/python3 -c "import json,sys; p=json.load(open(sys.argv[1]))['passes']; assert p['nodes_before']==1 and p['nodes_after']==1 and any(l.startswith('fuse:') for l in p['log']) and p['tactics'][0]['op']=='Relu' and p['nodes'][0]['tactic']==p['tactics'][0]['tactic']" "$T/passes.json" &&
   "$PLASTER" info "$M/relu.onnx" --passes --verbose | grep -q "^  nodes: 1 before, 1 after"; then
    pass=$((pass + 1))
else
    fail=$((fail + 1)); echo "FAIL: info --passes"; cat "$T/passes.json"
fi
# PL_TACTICS_OFF (comma-separated tactic names) takes tactics out of the choice; the
# reference tactic cannot be taken out
first=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['passes']['nodes'][0]['tactic'])" "$T/passes.json")
PL_TACTICS_OFF="nosuch,$first" "$PLASTER" info "$M/relu.onnx" --passes --json >"$T/passes_off.json"
PL_TACTICS_OFF="$first,reference" "$PLASTER" info "$M/relu.onnx" --passes --json >"$T/passes_ref.json"
if [ "$first" != reference ] &&
   /usr/bin/python3 -c "import json,sys; t=json.load(open(sys.argv[1]))['passes']['nodes'][0]['tactic']; assert t not in (sys.argv[2],), t" "$T/passes_off.json" "$first" &&
   /usr/bin/python3 -c "import json,sys; t=json.load(open(sys.argv[1]))['passes']['nodes'][0]['tactic']; assert t=='reference', t" "$T/passes_ref.json"; then
    pass=$((pass + 1))
else
    fail=$((fail + 1)); echo "FAIL: PL_TACTICS_OFF ($first)"; cat "$T/passes_off.json" "$T/passes_ref.json"
fi
# model-local functions are inlined, with the caller's attribute values
if "$PLASTER" run "$M/function.onnx" --input-dir "$M/function_in" --output-dir "$T/fn" --format npy --quiet &&
   /usr/bin/python3 -c "import numpy as np,sys; z=np.load(sys.argv[1]); assert np.allclose(z, [-0.4, 2.0]), z" "$T/fn/output_0.npy"; then
    pass=$((pass + 1))
else
    fail=$((fail + 1)); echo "FAIL: model-local function"
fi
# machine: measured peaks as JSON, then served from the cache
if XDG_CACHE_HOME="$T/cache" "$PLASTER" machine --threads 1 --seconds 0.05 --json >"$T/m1.json" &&
   XDG_CACHE_HOME="$T/cache" "$PLASTER" machine --threads 1 --json >"$T/m2.json" &&
   /usr/bin/python3 -c "import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); pa=[dict(p, from_cache=None) for p in a['peaks']]; pb=[dict(p, from_cache=None) for p in b['peaks']]; assert a['peaks'][0]['fp32_gflops']>0 and pa==pb and not a['peaks'][0]['from_cache'] and b['peaks'][0]['from_cache']" "$T/m1.json" "$T/m2.json"; then
    pass=$((pass + 1))
else
    fail=$((fail + 1)); echo "FAIL: machine --json / cache"
fi
expect 1 "--threads wants"         -- "$PLASTER" machine --threads zero
# plans (`plaster build`): outputs as the ONNX model's; damaged, truncated and foreign plans refused
same_outputs() { # same_outputs NAME DIR_A DIR_B: byte-identical output files
    if cmp -s "$2/output_0.pb" "$3/output_0.pb"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1: outputs differ"; fi
}
if "$PLASTER" build "$M/cnn.onnx" -o "$T/cnn.plan" --quiet && "$PLASTER" build "$M/cnn.onnx" -o "$T/cnn_nd.plan" --no-onednn --quiet &&
   "$PLASTER" build "$M/relu.onnx" -o "$T/relu.plan" --quiet; then
    pass=$((pass + 1))
else
    fail=$((fail + 1)); echo "FAIL: plaster build"
fi
"$PLASTER" run "$T/relu.plan" --input-dir "$M/good" --output-dir "$T/p_relu" --quiet
"$PLASTER" run "$M/relu.onnx" --backend reference --input-dir "$M/good" --output-dir "$T/o_relu" --quiet
"$PLASTER" run "$M/relu.onnx" --backend cpu --input-dir "$M/good" --output-dir "$T/c_relu" --quiet
same_outputs "relu.plan vs relu.onnx (reference)" "$T/p_relu" "$T/o_relu"
same_outputs "relu.plan vs relu.onnx (cpu)" "$T/p_relu" "$T/c_relu"
# without oneDNN every node of this model runs the reference kernel (it has none of plaster's own
# tactics' ops): bit for bit the reference executor
"$PLASTER" run "$T/cnn_nd.plan" --input-dir "$M/cnn_in" --output-dir "$T/p_cnn_nd" --quiet
"$PLASTER" run "$M/cnn.onnx" --backend reference --input-dir "$M/cnn_in" --output-dir "$T/o_cnn" --quiet
same_outputs "cnn.plan (--no-onednn) vs cnn.onnx" "$T/p_cnn_nd" "$T/o_cnn"
# with the timed tactics: as the reference within the cpu backend's tolerance
"$PLASTER" run "$T/cnn.plan" --input-dir "$M/cnn_in" --output-dir "$T/p_cnn" --quiet --threads 1
if /usr/bin/python3 -c "
import sys, onnx, numpy as np
from onnx import numpy_helper as nh
l = lambda p: nh.to_array(onnx.load_tensor(p))
a, b = l(sys.argv[1]), l(sys.argv[2])
assert a.shape == b.shape == (2, 5) and np.allclose(a, b, rtol=1e-3, atol=1e-4), (a, b)" "$T/p_cnn/output_0.pb" "$T/o_cnn/output_0.pb"; then
    pass=$((pass + 1))
else
    fail=$((fail + 1)); echo "FAIL: cnn.plan outputs vs reference"
fi
if "$PLASTER" build "$M/cnn.onnx" -o "$T/cnn2.plan" --json >"$T/build.json" &&
   /usr/bin/python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d['plan_bytes'] > 0 and d['arena_bytes'] > 0 and d['unshared_bytes'] >= d['arena_bytes'], d
assert sum(d['tactics'].values()) == len(d['nodes']) == 5, d
assert all(n['tactic'] in [c['tactic'] for c in n['candidates']] for n in d['nodes']), d" "$T/build.json"; then
    pass=$((pass + 1))
else
    fail=$((fail + 1)); echo "FAIL: build --json"; cat "$T/build.json"
fi
cp "$T/cnn.plan" "$T/flip.plan"
/usr/bin/python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2] ^= 0x40; open(p,'wb').write(b)" "$T/flip.plan"
expect 1 "flip.plan: damaged plan: checksum mismatch" -- "$PLASTER" run "$T/flip.plan" --input-dir "$M/cnn_in" --output-dir "$T/o"
head -c 1000 "$T/cnn.plan" >"$T/short.plan"
expect 1 "short.plan: truncated or damaged plan: the file has 1000 bytes" -- "$PLASTER" run "$T/short.plan" --input-dir "$M/cnn_in" --output-dir "$T/o"
head -c 10 "$T/cnn.plan" >"$T/tiny.plan"
expect 1 "tiny.plan: damaged plan" -- "$PLASTER" run "$T/tiny.plan" --input-dir "$M/cnn_in" --output-dir "$T/o"
PL_PLAN_CPU_OVERRIDE="avx2 fma test_only_feature" "$PLASTER" build "$M/cnn.onnx" -o "$T/othercpu.plan" --quiet
expect 1 "othercpu.plan: refused: the plan was built on a CPU with features 'avx2 fma test_only_feature'.*this CPU has" -- \
    "$PLASTER" run "$T/othercpu.plan" --input-dir "$M/cnn_in" --output-dir "$T/o"
PL_PLAN_ONEDNN_OVERRIDE="oneDNN 0.0.1 (test)" "$PLASTER" build "$M/cnn.onnx" -o "$T/otherdnnl.plan" --quiet
expect 1 "otherdnnl.plan: refused: the plan was built with oneDNN 0.0.1 \(test\), this plaster has" -- \
    "$PLASTER" run "$T/otherdnnl.plan" --input-dir "$M/cnn_in" --output-dir "$T/o"
expect 1 "is a plan.*--backend reference cannot run it" -- "$PLASTER" run "$T/cnn.plan" --backend reference --input-dir "$M/cnn_in" --output-dir "$T/o"
expect 1 "is already a plan" -- "$PLASTER" build "$T/cnn.plan" -o "$T/again.plan"
expect 2 "tensor 'w' keeps its data in an external file; plans embed self-contained models" -- \
    "$PLASTER" build "$M/good_external.onnx" -o "$T/ext.plan" --quiet
expect 1 "-o PLAN is required" -- "$PLASTER" build "$M/cnn.onnx"
expect 1 "cannot create" -- "$PLASTER" build "$M/cnn.onnx" -o "$T/no/such/dir/x.plan" --quiet

for cmd in run info conformance machine build; do
    if "$PLASTER" $cmd --help | grep -q "usage: plaster $cmd"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $cmd --help"; fi
done
if "$PLASTER" --version | grep -q "^plaster [0-9]"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: --version"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
