"""The peer benchmark: plaster against ONNX Runtime, OpenVINO and PyTorch on the same models, threads,
batches and inputs, in one run, each measurement in its own process. Called by bench/peers.sh (which
builds plaster, makes the venv and exports the models); run under the venv's python.

usage: python bench/peers.py [--quick] [--threads 1,2] [--batch 1,32] [--repeats 3] [--models a,b]
       [--duration S] [--warmup-ms MS] [--min-queries N] [--max-run-s S] [-o DIR] [--quiet]
       [--with-reference]   (also measure the reference backend; by default only --backend cpu)
       python bench/peers.py --write-doc [-o DIR]      (docs/PERFORMANCE.md from DIR/results.json)
       python bench/peers.py --validate-only ARGS...    (check the arguments and exit)
"""
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import peer_stats  # noqa: E402

# name -> family; the order is the order of the tables. Must match export.py's BENCH.
MODELS = {"resnet50": "cnn", "mobilenet_v2": "cnn", "mobilenet_v3_small": "cnn", "efficientnet_b0": "cnn",
          "lstm": "rnn", "gru_bidirectional": "rnn", "transformer_encoder": "transformer"}
QUICK_MODELS = ["mobilenet_v2", "lstm", "transformer_encoder"]  # one per family
PEERS = ["ort", "openvino", "torch"]
LABELS = {"plaster": "plaster", "plaster-cpu": "plaster cpu", "ort": "ONNX Runtime", "openvino": "OpenVINO",
          "torch": "PyTorch"}
SEED = 1
RTOL, ATOL = 1e-3, 1e-4
DOC = os.path.join(ROOT, "docs", "PERFORMANCE.md")
BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"


class UsageError(Exception):
    pass


def int_list(opt, v):
    try:
        out = [int(x) for x in v.split(",") if x != ""]
    except ValueError:
        raise UsageError("%s needs a comma-separated list of integers, not '%s'" % (opt, v))
    if not out or any(x < 1 for x in out):
        raise UsageError("%s needs integers >= 1, got '%s'" % (opt, v))
    return out


def number(opt, v, kind=float, least=0.0):
    try:
        x = kind(v)
    except ValueError:
        raise UsageError("%s needs a number, not '%s'" % (opt, v))
    if not x >= least:
        raise UsageError("%s must be >= %g, got '%s'" % (opt, least, v))
    return x


def parse_args(argv):
    a = {"quick": False, "threads": [1, 2], "batch": [1, 32], "repeats": 3, "models": list(MODELS),
         "duration": 10.0, "warmup_ms": 500.0, "min_queries": 64, "max_run_s": 120.0,
         "out": os.path.join("build", "peers"), "quiet": False, "write_doc": False, "validate_only": False,
         "plaster": os.path.join("build", "plaster"), "models_dir": os.path.join("build", "peers-models"),
         "torch_python": "/usr/bin/python3", "with_reference": False}
    given = set()
    i = 0
    valued = {"--threads", "--batch", "--repeats", "--models", "--duration", "--warmup-ms", "--min-queries",
              "--max-run-s", "-o", "--out", "--plaster", "--models-dir", "--torch-python"}
    while i < len(argv):
        opt = argv[i]
        if opt in ("-h", "--help"):
            print(__doc__.strip())
            sys.exit(0)
        if opt in valued:
            if i + 1 >= len(argv):
                raise UsageError("option '%s' needs a value" % opt)
            v = argv[i + 1]
            i += 2
            given.add(opt)
            if opt == "--threads":
                a["threads"] = int_list(opt, v)
            elif opt == "--batch":
                a["batch"] = int_list(opt, v)
            elif opt == "--repeats":
                a["repeats"] = number(opt, v, int, 1)
            elif opt == "--models":
                names = [n for n in v.split(",") if n]
                bad = [n for n in names if n not in MODELS]
                if bad or not names:
                    raise UsageError("unknown model(s) '%s'; known: %s" % (",".join(bad) or v, ",".join(MODELS)))
                a["models"] = names
            elif opt == "--duration":
                a["duration"] = number(opt, v)
            elif opt == "--warmup-ms":
                a["warmup_ms"] = number(opt, v)
            elif opt == "--min-queries":
                a["min_queries"] = number(opt, v, int, 1)
            elif opt == "--max-run-s":
                a["max_run_s"] = number(opt, v)
            elif opt in ("-o", "--out"):
                a["out"] = v
            elif opt == "--plaster":
                a["plaster"] = v
            elif opt == "--models-dir":
                a["models_dir"] = v
            else:
                a["torch_python"] = v
            continue
        if opt == "--quick":
            a["quick"] = True
        elif opt == "--quiet":
            a["quiet"] = True
        elif opt == "--write-doc":
            a["write_doc"] = True
        elif opt == "--validate-only":
            a["validate_only"] = True
        elif opt == "--with-reference":
            a["with_reference"] = True
        else:
            raise UsageError("unknown argument '%s' (see --help)" % opt)
        i += 1
    if a["quick"]:
        if "--models" not in given:
            a["models"] = [m for m in QUICK_MODELS]
        if "--duration" not in given:
            a["duration"] = 2.0
        if "--repeats" not in given:
            a["repeats"] = 1
    return a


# ---- processes ----

def vm_hwm_bytes(pid):
    """The peak resident set (VmHWM) of the process's current address space; 0 once it has exited."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def run_child(cmd, timeout_s):
    """Runs cmd in its own process; returns (rc, stdout, stderr, peak RSS bytes of that program alone).
    The peak is VmHWM from /proc/PID/status, polled every 20 ms until exit: wait4's ru_maxrss would
    not do, as Linux folds the forking Python's resident set into it at exec."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)  # returns once exec has succeeded
        deadline = time.monotonic() + timeout_s
        status, peak = 0, 0
        while True:
            peak = max(peak, vm_hwm_bytes(p.pid))
            pid, status, _ = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                pid, status, _ = os.wait4(p.pid, 0)
                status = -9
                break
            time.sleep(0.02)
        p.returncode = os.waitstatus_to_exitcode(status) if status != -9 else -9
        out.seek(0)
        err.seek(0)
        return (p.returncode, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                peak)


def capture(cmd):
    try:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def plaster_backends(plaster, with_reference=False):
    """The plaster runners measured: `--backend cpu` (the engine to compare with peers) when this
    build has it, and the reference backend too with --with-reference (or when there is no cpu
    backend). The reference executor is the yardstick for correctness, not for speed."""
    runners = {"plaster": []}
    if "--backend" in capture([plaster, "bench", "--help"]):
        runners["plaster-cpu"] = ["--backend", "cpu"]
        if not with_reference:
            del runners["plaster"]
    return runners


# ---- inputs ----

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def tensor_proto(name, x):
    """A float32 ONNX TensorProto (dims = 1, data_type = 2, name = 8, raw_data = 9) without the onnx
    package, for `plaster bench --input-dir`."""
    body = b"".join(b"\x08" + varint(int(d)) for d in x.shape)
    body += b"\x10\x01"
    nb = name.encode()
    body += b"\x42" + varint(len(nb)) + nb
    raw = x.astype("<f4").tobytes()
    return body + b"\x4a" + varint(len(raw)) + raw


def make_input(np, info, model, batch, out_dir):
    """Seeded standard-normal input of the model's input shape with dim 0 = batch (other unknown dims 1);
    writes input_0.npy (peers) and input_0.pb (plaster) into out_dir/inputs/MODEL/bB."""
    d = os.path.join(out_dir, "inputs", model, "b%d" % batch)
    shape = [batch] + [x if isinstance(x, int) else 1 for x in info["inputs"][0]["shape"][1:]]
    if not os.path.exists(os.path.join(d, "input_0.pb")):
        os.makedirs(d, exist_ok=True)
        x = np.random.default_rng(SEED).standard_normal(shape, dtype=np.float32)
        np.save(os.path.join(d, "input_0.npy"), x)
        with open(os.path.join(d, "input_0.pb"), "wb") as f:
            f.write(tensor_proto(info["inputs"][0]["name"], x))
    return d, shape


# ---- one measurement ----

def measure(a, runner, plaster_runners, model_dir, in_dir, threads):
    common = ["--duration", repr(a["duration"]), "--warmup-ms", repr(a["warmup_ms"]),
              "--min-queries", str(a["min_queries"])]
    limit = 3 * a["max_run_s"] + a["duration"] + 300
    if runner in plaster_runners:
        cmd = [a["plaster"], "bench", os.path.join(model_dir, "model.onnx"), "--scenario", "single-stream",
               "--input-dir", in_dir, "--threads", str(threads), "--json"] + common + plaster_runners[runner]
    else:
        py = a["torch_python"] if runner == "torch" else sys.executable
        cmd = [py, os.path.join(ROOT, "bench", "peer_runner.py"), "--runtime", runner, "--model-dir", model_dir,
               "--input", os.path.join(in_dir, "input_0.npy"), "--threads", str(threads)] + common
    rc, out, err, rss = run_child(cmd, limit)
    m = {"runner": runner, "status": "ok", "peak_rss_bytes": rss,
         "peak_rss_method": "VmHWM of the measuring process (/proc/PID/status, polled every 20 ms; for the "
                            "Python peers at least the VmHWM the runner reads itself before exiting)"}
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if rc != 0 or not lines:
        last = (err.strip().splitlines() or ["exit status %d" % rc])[-1]
        m.update({"status": "error", "error": "exit %d: %s" % (rc, last[:300])})
        return m
    r = json.loads(lines[-1])
    m["peak_rss_bytes"] = max(rss, r.get("self_vmhwm_bytes", 0))
    if runner in plaster_runners:
        r["load_ns"] = r.get("load_ns", 0.0) + r.get("build_ns", 0.0)
        r["load_method"] = "plaster bench's load_ns + build_ns (pl_model_load + pl_engine_build)"
        r["backend_args"] = plaster_runners[runner]
    keep = ("queries", "samples", "duration_ns", "min_ns", "max_ns", "mean_ns", "stddev_ns", "cv", "p50_ns",
            "p90_ns", "p95_ns", "p99_ns", "samples_per_s", "qps", "first_run_ns", "load_ns", "build_ns",
            "load_method", "settings", "versions", "valid", "backend", "backend_args", "self_vmhwm_bytes",
            "batch_split")
    m.update({k: r[k] for k in keep if k in r})
    return m


# ---- output check ----

def output_check_commands(a, plaster_runners, model_dir, in_dir, d, threads, has_backend):
    """The commands of the output check: "plaster" is the yardstick, plaster's reference backend
    (`plaster run` defaults to the cpu backend, so it is named; a build without backends has only
    the reference), "plaster-cpu" the cpu backend, then each peer, all on the same input."""
    onnx = os.path.join(model_dir, "model.onnx")

    def plaster_run(name, backend):
        cmd = [a["plaster"], "run", onnx, "--input-dir", in_dir, "--output-dir", os.path.join(d, name),
               "--format", "npy", "--quiet"]
        return cmd + (["--backend", backend] if has_backend else [])

    runs = {"plaster": plaster_run("plaster", "reference")}
    if "plaster-cpu" in plaster_runners and has_backend:
        runs["plaster-cpu"] = plaster_run("plaster-cpu", "cpu")
    for peer in PEERS:
        py = a["torch_python"] if peer == "torch" else sys.executable
        runs[peer] = [py, os.path.join(ROOT, "bench", "peer_runner.py"), "--runtime", peer, "--model-dir", model_dir,
                      "--input", os.path.join(in_dir, "input_0.npy"), "--threads", str(threads), "--once",
                      "--save-output", os.path.join(d, peer + ".npy")]
    return runs


def check_outputs(a, np, plaster_runners, model, model_dir, in_dir, batch, out_dir, threads):
    """Runs the input once through `plaster run` (reference) and every other runner, and compares each
    output with plaster's (np.allclose, rtol 1e-3, atol 1e-4)."""
    d = os.path.join(out_dir, "outputs", model)
    os.makedirs(d, exist_ok=True)
    has_backend = "--backend" in capture([a["plaster"], "run", "--help"])
    runs = output_check_commands(a, plaster_runners, model_dir, in_dir, d, threads, has_backend)
    outputs, checks = {}, []
    for name, cmd in runs.items():
        rc, out, err, _ = run_child(cmd, 1800)
        path = os.path.join(d, name, "output_0.npy") if name.startswith("plaster") else os.path.join(d, name + ".npy")
        if rc != 0 or not os.path.exists(path):
            last = (err.strip().splitlines() or ["exit status %d" % rc])[-1]
            outputs[name] = "error: " + last[:300]
        else:
            outputs[name] = np.load(path)
    ref = outputs["plaster"]
    for name in runs:
        if name == "plaster":
            continue
        c = {"model": model, "runner": name, "against": "plaster (reference backend)", "batch": batch,
             "rtol": RTOL, "atol": ATOL}
        y = outputs[name]
        if isinstance(ref, str) or isinstance(y, str):
            c.update({"status": "error", "error": ref if isinstance(ref, str) else y})
        elif y.shape != ref.shape:
            c.update({"status": "mismatch", "error": "shape %s vs plaster's %s" % (list(y.shape), list(ref.shape))})
        else:
            diff = np.abs(y.astype(np.float64) - ref.astype(np.float64))
            c["max_abs_err"] = float(diff.max()) if diff.size else 0.0
            c["max_rel_err"] = float((diff / np.maximum(np.abs(ref), 1e-30)).max()) if diff.size else 0.0
            # random-init CNNs can have outputs far below atol (mobilenet_v3_small: ~1e-9), where allclose
            # alone checks nothing: the error is also required to be within rtol of the output's scale
            c["ref_max_abs"] = float(np.abs(ref).max()) if ref.size else 0.0
            c["scaled_err"] = c["max_abs_err"] / c["ref_max_abs"] if c["ref_max_abs"] > 0 else c["max_abs_err"]
            ok = np.allclose(y, ref, rtol=RTOL, atol=ATOL) and c["scaled_err"] <= RTOL
            c["status"] = "ok" if ok else "mismatch"
        checks.append(c)
    return checks


# ---- the run ----

class Progress:
    def __init__(self, quiet, total):
        self.on = not quiet and sys.stderr.isatty()
        self.total, self.done = total, 0

    def line(self, text):
        if self.on:
            print(text, file=sys.stderr, flush=True)

    def measured(self, rep, model, threads, batch, m):
        self.done += 1
        head = "[%d/%d] rep %d %-20s t%d b%-3d %-11s" % (self.done, self.total, rep + 1, model, threads, batch,
                                                          m["runner"])
        if m["status"] == "ok":
            self.line("%s p50 %10.3f ms  %9.1f samples/s  rss %5.0f MB" % (
                head, m["p50_ns"] / 1e6, m["samples_per_s"], m["peak_rss_bytes"] / 2**20))
        else:
            self.line("%s %s: %s" % (head, m["status"], m.get("error", m.get("reason", ""))))


def predicted_run_s(a, measurements, key):
    """Seconds the timed loop of `key` should take, from earlier measurements of the same runner and
    model (same batch, else a smaller batch scaled linearly); None when nothing is known."""
    runner, model, threads, batch = key
    same, smaller = [], []
    for m in measurements:
        if m["status"] != "ok" or (m["runner"], m["model"], m["threads"]) != (runner, model, threads):
            continue
        if m["batch"] == batch:
            same.append(m["p50_ns"])
        elif m["batch"] < batch:
            smaller.append(m["p50_ns"] * batch / m["batch"])
    est = statistics.median(same) if same else (min(smaller) if smaller else None)
    if est is None:
        return None
    return max(a["duration"], a["min_queries"] * est / 1e9)


def versions(a, plaster_runners):
    v = {"plaster": capture([a["plaster"], "--version"]).strip(),
         "plaster_git": capture(["git", "describe", "--always", "--dirty", "--tags"]).strip(),
         "python_peers": platform.python_version(),
         "plaster_backends": {k: " ".join(args) or "(default backend)" for k, args in plaster_runners.items()}}
    for mod in ("onnxruntime", "openvino", "numpy"):
        try:
            v[mod] = __import__(mod).__version__
        except Exception as e:  # reported, not fatal: that peer's measurements will fail too
            v[mod] = "not importable: %s" % e
    v["torch"] = capture([a["torch_python"], "-c", "import torch; print(torch.__version__)"]).strip()
    dnnl = capture(["dpkg-query", "-W", "-f", "${Version}", "libdnnl-dev"]).strip()
    v["onednn"] = ("Debian libdnnl-dev %s (what plaster's cpu backend links; ONNX Runtime uses its own MLAS, "
                   "OpenVINO its own oneDNN fork)" % dnnl) if dnnl else "unknown"
    return v


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run(a):
    import numpy as np
    out_dir = a["out"]
    os.makedirs(out_dir, exist_ok=True)
    plaster_runners = plaster_backends(a["plaster"], a["with_reference"])
    runners = list(plaster_runners) + PEERS
    combos = [(m, t, b) for m in a["models"] for t in a["threads"] for b in sorted(a["batch"])]
    prog = Progress(a["quiet"], len(combos) * len(runners) * a["repeats"])

    machine = json.loads(capture([a["plaster"], "machine", "--json", "--threads", ",".join(map(str, a["threads"]))])
                         or "{}")
    models, inputs, checks = {}, {}, []
    for model in a["models"]:
        mdir = os.path.join(a["models_dir"], model)
        info = json.loads(capture([a["plaster"], "info", os.path.join(mdir, "model.onnx"), "--size", "--json"]) or "{}")
        if not info.get("inputs"):
            raise SystemExit("peers: %s: `plaster info` could not read it (exported by bench/peers.sh?)" % mdir)
        models[model] = {"family": MODELS[model], "dir": mdir, "input": info["inputs"][0],
                         "macs_per_sample": info.get("size", {}).get("macs"),
                         "macs_method": "plaster info --size --json: size.macs at batch 1 (1 MAC = 1 multiply-add)"}
        for b in a["batch"]:
            inputs[(model, b)], models[model].setdefault("input_shapes", {})[str(b)] = make_input(
                np, info, model, b, out_dir)
        b = min(a["batch"])
        prog.line("checking outputs of %s at batch %d against plaster's reference" % (model, b))
        cs = check_outputs(a, np, plaster_runners, model, mdir, inputs[(model, b)], b, out_dir,
                          min(a["threads"]))
        for c in cs:
            if c["status"] != "ok":
                print("peers: WARNING: %s output of %s differs from plaster's (%s): %s" % (
                    LABELS[c["runner"]], model, c["status"], c.get("error", "max abs err %.3g" % c.get(
                        "max_abs_err", 0))), file=sys.stderr)
        checks += cs

    measurements = []
    t_start = time.time()
    for rep in range(a["repeats"]):
        order = runners[rep % len(runners):] + runners[:rep % len(runners)]
        for model, threads, batch in combos:
            in_dir = inputs[(model, batch)]
            for runner in order:
                key = (runner, model, threads, batch)
                pred = predicted_run_s(a, measurements, key)
                base = {"repeat": rep, "model": model, "threads": threads, "batch": batch}
                if pred is not None and pred > a["max_run_s"]:
                    m = {"runner": runner, "status": "skipped", "reason": "predicted timed loop %.0f s > --max-run-s %g"
                         % (pred, a["max_run_s"])}
                else:
                    m = measure(a, runner, plaster_runners, models[model]["dir"], in_dir, threads)
                m.update(base)
                measurements.append(m)
                prog.measured(rep, model, threads, batch, m)

    results = {
        "schema": "plaster-peers/1",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wall_s": round(time.time() - t_start, 1),
        "command": "bash bench/peers.sh " + " ".join(a["argv"]),
        "machine": {"cpu_model": cpu_model(), "logical_cpus": os.cpu_count(), "kernel": platform.release(),
                    "plaster_machine": machine},
        "versions": versions(a, plaster_runners),
        "settings": {k: a[k] for k in ("quick", "threads", "batch", "repeats", "models", "duration", "warmup_ms",
                                       "min_queries", "max_run_s")},
        "method": {
            "scenario": "single-stream for every batch: one query of `batch` samples at a time, the next when "
                        "the last completes; throughput = samples / (last completion - first issue)",
            "warmup": "one untimed first run, then untimed runs until >= 3 and >= warmup_ms",
            "timed": "until >= duration s and >= min_queries queries",
            "percentiles": "nearest rank (pl_percentile_sorted, src/measure/stats.c; ported in bench/peer_stats.py)",
            "inputs": "seeded standard normal (numpy default_rng(%d)) of the input shape, the same file for "
                      "every runner" % SEED,
            "rss": "peak resident set (VmHWM) of each measuring process, interpreter and framework included "
                   "for the Python peers",
            "load": "plaster: pl_model_load + pl_engine_build; ORT: InferenceSession creation; OpenVINO: "
                    "read_model + reshape + compile_model; PyTorch: constructing the nn.Module (no file read)",
        },
        "models": models,
        "checks": checks,
        "measurements": measurements,
    }
    results["summary"] = summarize(results)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(markdown(results))
    if not a["quiet"]:
        print("peers: wrote %s and %s" % (os.path.join(out_dir, "results.json"), os.path.join(out_dir, "results.md")),
              file=sys.stderr)


# ---- summary and tables ----

def summarize(results):
    """Per model, threads, batch and runner: median over repeats and min-max of p50, median p99,
    throughput, load time, max peak RSS; ratios of each plaster runner to each peer; share of peak."""
    peaks = {p["threads"]: p.get("fp32_gflops") for p in results["machine"]["plaster_machine"].get("peaks", [])}
    rows = {}
    for m in results["measurements"]:
        if m["status"] != "ok":
            continue
        rows.setdefault((m["model"], m["threads"], m["batch"], m["runner"]), []).append(m)
    out = []
    for (model, threads, batch, runner), ms in rows.items():
        p50 = [m["p50_ns"] for m in ms]
        s = {"model": model, "threads": threads, "batch": batch, "runner": runner, "n": len(ms),
             "p50_ms": statistics.median(p50) / 1e6, "p50_min_ms": min(p50) / 1e6, "p50_max_ms": max(p50) / 1e6,
             "p99_ms": statistics.median(m["p99_ns"] for m in ms) / 1e6,
             "samples_per_s": statistics.median(m["samples_per_s"] for m in ms),
             "load_ms": statistics.median(m["load_ns"] for m in ms) / 1e6,
             "peak_rss_mb": max(m["peak_rss_bytes"] for m in ms) / 2**20}
        if runner.startswith("plaster"):  # samples per slice when the engine split the batch, per repeat
            s["batch_split"] = [m.get("batch_split", 0) for m in ms]
        info = results["models"][model]
        if runner.startswith("plaster") and info["family"] == "cnn" and info.get("macs_per_sample") and peaks.get(threads):
            gflops = 2 * info["macs_per_sample"] * batch / (s["p50_ms"] / 1e3) / 1e9
            s["gflops"] = gflops
            s["fp32_peak_gflops"] = peaks[threads]
            s["fraction_of_peak"] = gflops / peaks[threads]
        out.append(s)
    by = {(s["model"], s["threads"], s["batch"], s["runner"]): s for s in out}
    for s in out:
        if not s["runner"].startswith("plaster"):
            continue
        for peer in PEERS:
            p = by.get((s["model"], s["threads"], s["batch"], peer))
            if p:
                s["p50_ratio_" + peer] = s["p50_ms"] / p["p50_ms"]
                s["throughput_ratio_" + peer] = s["samples_per_s"] / p["samples_per_s"] if p["samples_per_s"] else None
    order = {m: i for i, m in enumerate(MODELS)}
    out.sort(key=lambda s: (order.get(s["model"], 99), s["threads"], s["batch"], s["runner"]))
    return out


def fmt(x, digits=3):
    if x is None:
        return "-"
    if x >= 1000:
        return "%.0f" % x
    if x >= 100:
        return "%.1f" % x
    if x >= 10:
        return "%.2f" % x
    return "%.*f" % (digits, x)


def markdown(results):
    st, v, mach = results["settings"], results["versions"], results["machine"]
    runners = [r for r in ("plaster", "plaster-cpu") if any(s["runner"] == r for s in results["summary"])]
    primary = "plaster-cpu" if "plaster-cpu" in runners else "plaster"
    cols = runners + PEERS
    by = {(s["model"], s["threads"], s["batch"], s["runner"]): s for s in results["summary"]}
    cells = sorted({(m["model"], m["threads"], m["batch"]) for m in results["measurements"]},
                   key=lambda c: (list(MODELS).index(c[0]) if c[0] in MODELS else 99, c[1], c[2]))
    status = {}
    for m in results["measurements"]:
        if m["status"] != "ok":
            status.setdefault((m["model"], m["threads"], m["batch"], m["runner"]), m["status"])
    L = []
    L.append("Run of %s (%s UTC), %s: %s, %d logical CPUs. %s." % (
        results["command"], results["date"].replace("T", " ").rstrip("Z"), "quick smoke run" if st["quick"] else
        "full matrix", mach["cpu_model"], mach["logical_cpus"] or 0,
        "Repeats: %d (interleaved); timed >= %g s and >= %d queries after a %g ms warmup" % (
            st["repeats"], st["duration"], st["min_queries"], st["warmup_ms"])))
    L.append("")
    L.append("Versions: plaster %s (%s; backends measured: %s), ONNX Runtime %s, OpenVINO %s, PyTorch %s "
             "(Debian, /usr/bin/python3), oneDNN: %s." % (
                 v.get("plaster_git"), v.get("plaster"), ", ".join("%s = %s" % (LABELS[k], b) for k, b in
                                                                     v["plaster_backends"].items()),
                 v.get("onnxruntime"), v.get("openvino"), v.get("torch"), v.get("onednn")))
    L.append("")

    def cell(model, t, b, r, key, digits=3):
        s = by.get((model, t, b, r))
        if s is None:
            return status.get((model, t, b, r), "-")
        return fmt(s[key], digits)

    L.append("**Latency p50, ms** (median over repeats; [min-max] of p50 when repeats > 1). "
             "Ratio = %s / peer: below 1 means plaster is faster." % LABELS[primary])
    L.append("")
    L.append("| model | threads | batch | " + " | ".join(LABELS[c] for c in cols) + " | " +
             " | ".join("%s / %s" % (LABELS[primary], LABELS[p]) for p in PEERS) + " |")
    L.append("|" + "---|" * (3 + len(cols) + len(PEERS)))
    for model, t, b in cells:
        row = [model, str(t), str(b)]
        for c in cols:
            s = by.get((model, t, b, c))
            if s and s["n"] > 1:
                row.append("%s [%s-%s]" % (fmt(s["p50_ms"]), fmt(s["p50_min_ms"]), fmt(s["p50_max_ms"])))
            else:
                row.append(cell(model, t, b, c, "p50_ms"))
        ps = by.get((model, t, b, primary), {})
        row += [fmt(ps.get("p50_ratio_" + p), 2) for p in PEERS]
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("**Throughput, samples/s** (single-stream, one query of `batch` samples at a time; median over "
             "repeats). Ratio = %s / peer: above 1 means plaster is faster." % LABELS[primary])
    L.append("")
    L.append("| model | threads | batch | " + " | ".join(LABELS[c] for c in cols) + " | " +
             " | ".join("%s / %s" % (LABELS[primary], LABELS[p]) for p in PEERS) + " | batch split |")
    L.append("|" + "---|" * (4 + len(cols) + len(PEERS)))
    for model, t, b in cells:
        ps = by.get((model, t, b, primary), {})
        row = [model, str(t), str(b)] + [cell(model, t, b, c, "samples_per_s", 1) for c in cols]
        row += [fmt(ps.get("throughput_ratio_" + p), 2) for p in PEERS]
        splits = ps.get("batch_split") or []
        row.append(", ".join("whole" if not c else "%d" % c for c in splits) or "-")
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("Batch split: how %s ran each repeat's batch: whole, or as slices of that many samples, one "
             "thread each, through the whole graph (docs/ENGINE.md, section 8; chosen by timing at the "
             "second run)." % LABELS[primary])
    L.append("")
    L.append("**Load/build time, ms, and peak RSS, MB** (median load over repeats; RSS = max VmHWM of the "
             "measuring process, Python interpreter and framework included for the peers). Load is plaster's "
             "pl_model_load + pl_engine_build, ORT's session creation, OpenVINO's read + reshape + compile, "
             "PyTorch's module construction.")
    L.append("")
    L.append("| model | threads | batch | " + " | ".join("%s load / RSS" % LABELS[c] for c in cols) + " |")
    L.append("|" + "---|" * (3 + len(cols)))
    for model, t, b in cells:
        row = [model, str(t), str(b)]
        for c in cols:
            s = by.get((model, t, b, c))
            row.append("%s / %.0f" % (fmt(s["load_ms"], 1), s["peak_rss_mb"]) if s else status.get((model, t, b, c), "-"))
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    cnn = [s for s in results["summary"] if "fraction_of_peak" in s]
    if cnn:
        L.append("**CNNs: share of the machine's FP32 peak that plaster reaches** = 2 x MACs x batch / p50, "
                 "with plaster's counted MACs (`plaster info --size`) over the FMA peak `plaster machine` "
                 "measured for that thread count. The MACs are those of direct convolution: where plaster "
                 "runs 3x3 convolutions as Winograd (fewer multiply-adds, docs/ENGINE.md section 3), as on "
                 "ResNet-50, the figure is an effective rate, not the rate the FMA units ran at.")
        L.append("")
        L.append("| model | runner | threads | batch | GMACs/sample | GFLOP/s | peak GFLOP/s | share of peak |")
        L.append("|---|---|---|---|---|---|---|---|")
        for s in cnn:
            L.append("| %s | %s | %d | %d | %.3f | %s | %s | %.1f %% |" % (
                s["model"], LABELS[s["runner"]], s["threads"], s["batch"],
                results["models"][s["model"]]["macs_per_sample"] / 1e9, fmt(s["gflops"], 2),
                fmt(s["fp32_peak_gflops"], 1), 100 * s["fraction_of_peak"]))
        L.append("")
    if results["checks"]:
        L.append("**Output check** (once per model, at the smallest batch, against plaster's reference "
                 "executor): ok = np.allclose(rtol %g, atol %g) and max abs err <= %g x max |plaster output| "
                 "(random-init CNN outputs can be far below atol)." % (RTOL, ATOL, RTOL))
        L.append("")
        L.append("| model | runner | result | max abs err | max rel err | max abs err / max abs output |")
        L.append("|---|---|---|---|---|---|")
        for c in results["checks"]:
            L.append("| %s | %s | %s | %s | %s | %s |" % (
                c["model"], LABELS[c["runner"]], c["status"] if c["status"] == "ok" else "**%s** %s" % (
                    c["status"].upper(), c.get("error", "")), "%.2g" % c["max_abs_err"] if "max_abs_err" in c else "-",
                "%.2g" % c["max_rel_err"] if "max_rel_err" in c else "-",
                "%.2g" % c["scaled_err"] if "scaled_err" in c else "-"))
        L.append("")
    skipped = [m for m in results["measurements"] if m["status"] != "ok"]
    if skipped:
        L.append("Not measured: " + "; ".join(sorted({"%s %s t%d b%d (%s)" % (
            LABELS[m["runner"]], m["model"], m["threads"], m["batch"], m.get("reason") or m.get("error", ""))
            for m in skipped})) + ".")
        L.append("")
    return "\n".join(L)


def write_doc(a):
    path = os.path.join(a["out"], "results.json")
    if not os.path.exists(path):
        raise SystemExit("peers: %s: missing; run bash bench/peers.sh first" % path)
    with open(path) as f:
        md = markdown(json.load(f))
    with open(DOC) as f:
        doc = f.read()
    if BEGIN not in doc or END not in doc:
        raise SystemExit("peers: %s: markers %s ... %s missing" % (DOC, BEGIN, END))
    head, rest = doc.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(DOC, "w") as f:
        f.write(head + BEGIN + "\n" + md.rstrip() + "\n" + END + tail)
    print("peers: rewrote the results in %s from %s" % (DOC, path), file=sys.stderr)


def main(argv):
    try:
        a = parse_args(argv)
    except UsageError as e:
        print("peers: %s" % e, file=sys.stderr)
        return 2
    a["argv"] = [x for x in argv if x != "--validate-only"]
    if a["validate_only"]:
        return 0
    if a["write_doc"]:
        write_doc(a)
        return 0
    run(a)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
