#!/usr/bin/python3
"""Exports real architectures with Debian's PyTorch (torchvision models with seeded random
weights, LSTM, GRU, Transformer encoder) to ONNX case folders that `plaster conformance` and
tools/check-cases read: OUT/NAME/model.onnx + test_data_set_0/{input_0.pb, output_0.pb}, the
expected output computed by PyTorch itself.

usage: /usr/bin/python3 bench/models/export.py OUT_DIR [--set test|bench|all] [--only NAME,...]
       [--batch B] [--opset 13]
Sets: test (the models tests/torch_models_test.sh compares), bench (the models bench/peers.sh
measures against ONNX Runtime, OpenVINO and PyTorch: BENCH below), all.
Existing folders are kept (delete one to re-export it).
"""
import argparse, os, sys, time, warnings

import torch
import torch.nn as nn
import torchvision.models as tvm
from onnx import numpy_helper


class Recurrent(nn.Module):
    """An LSTM or GRU over a (batch, time, features) sequence, returning all hidden states."""

    def __init__(self, cell, bidirectional):
        super().__init__()
        self.rnn = cell(input_size=32, hidden_size=64, num_layers=2, batch_first=True,
                        bidirectional=bidirectional)

    def forward(self, x):
        y, _ = self.rnn(x)
        return y


class Encoder(nn.Module):
    """A 2-layer Transformer encoder (d_model 64, 4 heads) over (batch, time, d_model)."""

    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128, dropout=0.0,
                                           batch_first=True)
        self.enc = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)

    def forward(self, x):
        return self.enc(x)


def image(size=224):
    return (3, size, size)


# name -> (constructor, per-sample input shape, in the test set?)
MODELS = {
    "resnet50": (lambda: tvm.resnet50(), image(), True),
    "resnet18": (lambda: tvm.resnet18(), image(), False),
    "mobilenet_v2": (lambda: tvm.mobilenet_v2(), image(), True),
    "mobilenet_v3_small": (lambda: tvm.mobilenet_v3_small(), image(), True),
    "efficientnet_b0": (lambda: tvm.efficientnet_b0(), image(), True),
    "densenet121": (lambda: tvm.densenet121(), image(), True),
    "squeezenet1_1": (lambda: tvm.squeezenet1_1(), image(), True),
    "shufflenet_v2_x1_0": (lambda: tvm.shufflenet_v2_x1_0(), image(), True),
    "googlenet": (lambda: tvm.googlenet(aux_logits=False, init_weights=True), image(), True),
    "regnet_y_400mf": (lambda: tvm.regnet_y_400mf(), image(), True),
    "mnasnet0_5": (lambda: tvm.mnasnet0_5(), image(), True),
    "convnext_tiny": (lambda: tvm.convnext_tiny(), image(), False),
    "alexnet": (lambda: tvm.alexnet(), image(), False),
    "lstm": (lambda: Recurrent(nn.LSTM, False), (16, 32), True),
    "gru_bidirectional": (lambda: Recurrent(nn.GRU, True), (16, 32), True),
    "transformer_encoder": (lambda: Encoder(), (16, 64), True),
}

# the peer benchmark's models (bench/peers.sh): CNNs, recurrent nets and a Transformer encoder
BENCH = ("resnet50", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "lstm", "gru_bidirectional",
         "transformer_encoder")


def export(name, out_dir, batch, opset):
    ctor, shape, _ = MODELS[name]
    case = os.path.join(out_dir, name)
    if os.path.exists(os.path.join(case, "test_data_set_0", "output_0.pb")):
        return False
    torch.manual_seed(0)
    model = ctor().eval()
    x = torch.randn((batch,) + tuple(shape))
    with torch.no_grad():
        y = model(x)
    os.makedirs(os.path.join(case, "test_data_set_0"), exist_ok=True)
    torch.onnx.export(model, x, os.path.join(case, "model.onnx"), opset_version=opset,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    for kind, t in (("input", x), ("output", y)):
        with open(os.path.join(case, "test_data_set_0", kind + "_0.pb"), "wb") as f:
            f.write(numpy_helper.from_array(t.numpy(), kind).SerializeToString())
    return True


def main():
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--set", choices=["test", "bench", "all"], default="test")
    ap.add_argument("--only", default="")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--opset", type=int, default=13)
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    names = [n for n in MODELS if args.set == "all" or (args.set == "test" and MODELS[n][2])
             or (args.set == "bench" and n in BENCH)]
    if args.only:
        names = [n for n in args.only.split(",") if n]
        unknown = [n for n in names if n not in MODELS]
        if unknown:
            sys.exit("export.py: unknown model(s) %s; known: %s" % (", ".join(unknown), ", ".join(MODELS)))
    os.makedirs(args.out, exist_ok=True)
    for n in names:
        t0 = time.time()
        if export(n, args.out, args.batch, args.opset):
            print("exported %-22s in %.1f s" % (n, time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
