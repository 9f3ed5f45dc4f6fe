"""Measures one peer runtime on one model, threads and batch, in its own process, and prints one JSON
object on stdout with the keys of `plaster bench --json` (p50_ns, samples_per_s, ...).

usage: PYTHON bench/peer_runner.py --runtime ort|openvino|torch --model-dir DIR --input X.npy
       --threads T [--duration S] [--warmup-ms MS] [--min-queries N] [--save-output Y.npy] [--once]

ort and openvino run under the venv's python (PyPI wheels); torch runs under /usr/bin/python3
(Debian's torch 1.13) on the nn.Module rebuilt by bench/models/export.py's constructor with the
seed export used, so it holds the same weights as the exported model.onnx.
--once: load, run the input once, save the output, and report only the load time.
"""
import argparse
import importlib.util
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_stats  # noqa: E402


def load_ort(model_path, threads, batch):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    settings = {"graph_optimization_level": "ORT_ENABLE_ALL", "intra_op_num_threads": threads,
                "inter_op_num_threads": 1, "execution_mode": "ORT_SEQUENTIAL",
                "providers": sess.get_providers()}

    def run(x):
        return sess.run(None, {name: x})[0]
    return run, settings, {"onnxruntime": ort.__version__}


def load_openvino(model_path, threads, batch):
    import openvino as ov
    core = ov.Core()
    model = core.read_model(model_path)
    shape = [d.get_length() if d.is_static else 1 for d in model.input(0).get_partial_shape()]
    shape[0] = batch
    model.reshape({0: ov.PartialShape(shape)})
    hint = "LATENCY" if batch == 1 else "THROUGHPUT"
    # f32: on CPUs with AVX512-BF16 OpenVINO's default precision hint is bf16; one stream: under
    # THROUGHPUT it would otherwise split the threads into streams that one sync request cannot use
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": hint, "INFERENCE_PRECISION_HINT": "f32",
              "NUM_STREAMS": 1}
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    settings = {"device": "CPU", "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": hint,
                "INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": 1, "reshaped_to": shape, "request": "one synchronous InferRequest"}
    for key in ("NUM_STREAMS", "INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS"):
        try:
            settings["compiled_" + key] = str(compiled.get_property(key))
        except Exception:  # a property this version does not expose
            pass

    def run(x):
        request.infer({0: x})
        return request.get_output_tensor(0).data
    return run, settings, {"openvino": ov.__version__}


def load_torch(model_dir, threads, batch):
    import torch
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    root = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("export", os.path.join(root, "models", "export.py"))
    export = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(export)
    name = os.path.basename(os.path.normpath(model_dir))
    torch.manual_seed(0)  # as export.export() does before building the model it exports
    module = export.MODELS[name][0]().eval()
    settings = {"num_threads": torch.get_num_threads(), "num_interop_threads": 1, "mode": "eval() + inference_mode()",
                "module": "bench/models/export.py MODELS[%r], torch.manual_seed(0)" % name}

    def run(x):
        with torch.inference_mode():
            return module(torch.from_numpy(x)).numpy()
    return run, settings, {"torch": torch.__version__}


def vm_hwm_bytes():
    """Peak resident set of this program (VmHWM). Not ru_maxrss: Linux counts the forking parent's
    resident set in it at exec."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", choices=["ort", "openvino", "torch"], required=True)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup-ms", type=float, default=500.0)
    ap.add_argument("--min-queries", type=int, default=64)
    ap.add_argument("--save-output", default="")
    ap.add_argument("--once", action="store_true")
    args = ap.parse_args()

    import numpy as np
    x = np.ascontiguousarray(np.load(args.input), dtype=np.float32)
    batch = int(x.shape[0])
    model_path = os.path.join(args.model_dir, "model.onnx")
    t0 = time.perf_counter_ns()
    if args.runtime == "ort":
        run, settings, versions = load_ort(model_path, args.threads, batch)
    elif args.runtime == "openvino":
        run, settings, versions = load_openvino(model_path, args.threads, batch)
    else:
        run, settings, versions = load_torch(args.model_dir, args.threads, batch)
    load_ns = time.perf_counter_ns() - t0
    load_what = {"ort": "InferenceSession(...) creation (load + graph optimization)",
                 "openvino": "read_model + reshape + compile_model",
                 "torch": "nn.Module construction (random init) + eval(); no file is read"}[args.runtime]
    if args.once:
        y = run(x)
        result = {}
        if args.save_output:
            np.save(args.save_output, np.asarray(y))
    else:
        result = peer_stats.single_stream(lambda: run(x), batch, args.duration, args.warmup_ms, args.min_queries)
    result.update({"runtime": args.runtime, "threads": args.threads, "batch": batch, "load_ns": float(load_ns),
                   "load_method": load_what, "settings": settings, "versions": versions,
                   "self_vmhwm_bytes": vm_hwm_bytes()})
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
