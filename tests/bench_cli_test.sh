#!/usr/bin/env bash
# `plaster bench` CLI: bad arguments give one line and exit 1; --json parses; the energy figures
# name their meter ('estimate' here, 'rapl' on a fake powercap tree); --trace writes a Chrome
# trace. usage: tests/bench_cli_test.sh PLASTER
set -u
PLASTER=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
M=$ROOT/examples/models/fashion_cnn/model.onnx
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect_error PATTERN -- command...: exit 1, stderr one line matching PATTERN
expect_error() {
    local pattern=$1
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    local rc=$? lines
    lines=$(wc -l <"$T/err")
    if [ "$rc" -eq 1 ] && grep -qE -- "$pattern" "$T/err" && [ "$lines" -eq 1 ]; then ok
    else bad "$* -> exit $rc, stderr ($lines lines): $(cat "$T/err")"; fi
}

expect_error "needs --target-qps"        -- "$PLASTER" bench "$M" --scenario server
expect_error "--duration must be >= 0"   -- "$PLASTER" bench "$M" --duration -1
expect_error "--duration needs a number" -- "$PLASTER" bench "$M" --duration abc
expect_error "--scenario must be"        -- "$PLASTER" bench "$M" --scenario fast
expect_error "--batch must be >= 1"      -- "$PLASTER" bench "$M" --batch 0
expect_error "--streams must be >= 1"    -- "$PLASTER" bench "$M" --streams -2
expect_error "--target-qps must be > 0"  -- "$PLASTER" bench "$M" --scenario server --target-qps 0
expect_error "server only"               -- "$PLASTER" bench "$M" --target-qps 10
expect_error "unknown option '--fast'"   -- "$PLASTER" bench "$M" --fast
expect_error "needs a value"             -- "$PLASTER" bench "$M" --batch
expect_error "no MODEL given"            -- "$PLASTER" bench
expect_error "--energy-meter must be"    -- "$PLASTER" bench "$M" --energy-meter watts
expect_error "cannot open"               -- "$PLASTER" bench "$T/absent.onnx"
expect_error "input_0.pb: missing"       -- "$PLASTER" bench "$M" --input-dir "$T"

"$PLASTER" bench --help | grep -q "single-stream" && ok || bad "--help"
"$PLASTER" bench --version | grep -q "^plaster " && ok || bad "--version"
"$PLASTER" --help | grep -q "bench" && ok || bad "bench missing from plaster --help"

# --json parses, keys carry units, the estimate is labelled; --trace is a Chrome trace
if "$PLASTER" bench "$M" --duration 0.2 --min-queries 64 --warmup-ms 20 --json --profile \
    --trace "$T/trace.json" --input-dir "$ROOT/examples/models/fashion_cnn/test_data_set_0" >"$T/j" 2>"$T/err"; then
    /usr/bin/python3 - "$T/j" "$T/trace.json" <<'PY' && ok || bad "json: $(cat "$T/j") $(cat "$T/err")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["scenario"] == "single-stream" and d["queries"] >= 64, d
for k in ("p50_ns", "p90_ns", "p99_ns", "duration_ns", "samples_per_s", "energy_j", "avg_w", "load_ns"):
    assert isinstance(d[k], (int, float)), k
assert d["energy_is_estimate"] is True and "estimate" in d["energy_meter"], d["energy_meter"]
assert len(d["profile"]) == 10 and abs(sum(p["share"] for p in d["profile"]) - 1) < 1e-9
t = json.load(open(sys.argv[2]))
ev = t["traceEvents"]
assert len(ev) == d["queries"] and all(e["ph"] == "X" and e["dur"] > 0 and e["tid"] == 0 for e in ev)
PY
else bad "bench --json failed: $(cat "$T/err")"; fi

# text output: headline, VALID/INVALID, percentiles with units, energy named as an estimate
"$PLASTER" bench "$M" --scenario offline --duration 0.2 --warmup-ms 20 --streams 2 >"$T/text" 2>&1
for want in "offline: .* samples/s" "latency \(ms, wall clock, CLOCK_MONOTONIC" "p99.9" "energy \(estimate" \
    "ESTIMATE" "J per inference sample gross" "cold start" "VALID"; do
    grep -qE -- "$want" "$T/text" && ok || bad "offline text lacks '$want': $(cat "$T/text")"
done

# a fake RAPL tree: the meter is named rapl and nothing says estimate
P=$T/powercap/intel-rapl:0
mkdir -p "$P"
echo package-0 >"$P/name"
echo 1000000 >"$P/energy_uj"
echo 262143328850 >"$P/max_energy_range_uj"
PL_POWERCAP_ROOT=$T/powercap "$PLASTER" bench "$M" --duration 0.1 --min-queries 64 --warmup-ms 0 --json >"$T/r" 2>"$T/err"
/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["energy_meter"].startswith("rapl"), d["energy_meter"]
assert d["energy_is_estimate"] is False
' "$T/r" && ok || bad "rapl meter: $(cat "$T/r") $(cat "$T/err")"

# a plan: its cpu engine runs, and the cold start's load is the plan's (no build)
"$PLASTER" build "$M" -o "$T/model.plan" --quiet || bad "plaster build"
"$PLASTER" bench "$T/model.plan" --duration 0.2 --min-queries 3 --warmup-ms 0 --energy-meter estimate --json >"$T/p" 2>"$T/err"
/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["plan"] is True and d["backend"] == "cpu" and d["load_ns"] > 0 and d["build_ns"] == 0 and d["queries"] >= 3, d
' "$T/p" && ok || bad "bench of a plan: $(cat "$T/p") $(cat "$T/err")"
expect_error "--backend reference cannot run it" -- "$PLASTER" bench "$T/model.plan" --backend reference

# a batch the engine splits over 2 threads (forced): JSON still parses and says so; text says so
PL_BATCH_CHUNK=3 "$PLASTER" bench "$M" --batch 8 --threads 2 --duration 0.1 --min-queries 3 --warmup-ms 0 \
    --energy-meter estimate --json >"$T/s" 2>"$T/err"
/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["batch_split"] == 3 and d["batch"] == 8 and d["queries"] >= 3, d
' "$T/s" && ok || bad "bench of a split batch: $(cat "$T/s") $(cat "$T/err")"
PL_BATCH_CHUNK=3 "$PLASTER" bench "$M" --batch 8 --threads 2 --duration 0.1 --min-queries 3 --warmup-ms 0 \
    --energy-meter estimate >"$T/s" 2>"$T/err"
grep -q "batch split: the engine ran each batch of 8 as slices of 3 samples" "$T/s" && ok || bad "bench text: $(cat "$T/s")"

echo "bench_cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
