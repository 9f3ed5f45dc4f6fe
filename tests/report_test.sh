#!/usr/bin/env bash
# The PLASTER report on the embedded model: report.json against docs/report.schema.json,
# report.md and report.html with every section, the page opened in headless Chromium with no
# console message and a non-blank screenshot. usage: tests/report_test.sh PLASTER
set -u
PLASTER=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; echo "0 passed, 1 failed"; exit 1; }
XDG_CACHE_HOME="$T/cache" "$PLASTER" report "$ROOT/examples/models/fashion_cnn/model.onnx" --dataset fashion-mnist \
    --limit 2000 --duration 0.5 --sla-ms 50 -o "$T/r" --quiet >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "plaster report exited non-zero"; }
grep -q "report written: $T/r/report.html" "$T/out" || fail "no 'report written' line"
for f in report.json report.md report.html; do [ -s "$T/r/$f" ] || fail "$f missing or empty"; done
/usr/bin/python3 - "$T/r/report.json" "$ROOT/docs/report.schema.json" <<'PY' || fail "report.json does not match its schema"
import json, sys, jsonschema
report = json.load(open(sys.argv[1]))
jsonschema.validate(report, json.load(open(sys.argv[2])))
e = report["elements"]
assert 0.8 < e["accuracy"]["top1"] <= 1, e["accuracy"]
assert report["runs"]["single_stream"]["valid"] in (True, False)
assert report["runs"]["offline"]["samples_per_s"] > 0
assert e["size"]["params"] == 105866, e["size"]["params"]
assert sum(map(sum, e["accuracy"]["confusion"])) == e["accuracy"]["samples"] == 2000
PY
for id in verdicts latency throughput accuracy layers energy size; do
    grep -q "id=\"$id\"" "$T/r/report.html" || fail "report.html has no '$id' section"
done
[ "$(grep -o '<svg' "$T/r/report.html" | wc -l)" -ge 5 ] || fail "report.html has fewer than 5 charts"
grep -q "Rate of learning" "$T/r/report.md" || fail "report.md lacks the rate-of-learning verdict"
command -v chromium >/dev/null || fail "chromium is not installed (make deps installs it)"
timeout 120 chromium --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 --window-size=1100,4000 \
    --screenshot="$T/shot.png" "file://$T/r/report.html" >"$T/chrome.out" 2>"$T/chrome.log" || fail "chromium failed"
if grep -q ":CONSOLE" "$T/chrome.log"; then grep ":CONSOLE" "$T/chrome.log"; fail "console messages while loading report.html"; fi
/usr/bin/python3 - "$T/shot.png" <<'PY' || fail "the screenshot is blank"
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
colors = im.getcolors(maxcolors=1 << 20)
assert colors is not None and len(colors) > 20, "too few colours"
white = max(c for c, rgb in colors if rgb == (255, 255, 255)) if any(rgb == (255, 255, 255) for _, rgb in colors) else 0
assert white < 0.99 * im.size[0] * im.size[1], "almost all white"
PY
echo "1 passed, 0 failed"
