#!/usr/bin/python3
"""Trains the small CNN that plaster embeds as its default model (examples/models/fashion_cnn/model.onnx)
on Debian's Fashion-MNIST (package dataset-fashion-mnist) with Debian's PyTorch, and exports it
to ONNX (opset 13, dynamic batch) with one test data set (test_data_set_0/input_0.pb, output_0.pb: four test images and
PyTorch's logits), in the ONNX backend-test layout.

usage: /usr/bin/python3 examples/train_fashion_cnn.py [OUT_DIR] [--epochs N] [--seed S]
"""
import argparse, gzip, os, struct, sys

import numpy as np
import torch
import torch.nn as nn

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class FashionCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(),
                                        nn.Linear(64, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default=os.path.join(os.path.dirname(__file__), "models"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    x = read_idx(os.path.join(DATA, "train-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = read_idx(os.path.join(DATA, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    xt = read_idx(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    yt = read_idx(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    # normalise with the training set's mean and std (recorded in the model's metadata)
    mean, std = float(x.mean()), float(x.std())
    x = (x - mean) / std
    xt = (xt - mean) / std
    model = FashionCNN()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    X, Y = torch.from_numpy(x[:, None]), torch.from_numpy(y)
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(X))
        for i in range(0, len(X), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            loss = loss_fn(model(X[idx]), Y[idx])
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(torch.from_numpy(xt[i:i + 1000, None])).argmax(1)
                              for i in range(0, len(xt), 1000)])
        acc = float((pred.numpy() == yt).mean())
        print("epoch %d: test top-1 %.4f" % (epoch + 1, acc), file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    case = os.path.join(args.out, "fashion_cnn")
    os.makedirs(case, exist_ok=True)
    path = os.path.join(case, "model.onnx")
    sample = torch.from_numpy(xt[:4, None])
    torch.onnx.export(model, sample, path, opset_version=13, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    for k, v in (("dataset", "fashion-mnist"), ("normalize_mean", "%.6f" % mean),
                 ("normalize_std", "%.6f" % std), ("test_top1", "%.4f" % acc),
                 ("trained_by", "examples/train_fashion_cnn.py seed %d epochs %d" % (args.seed, args.epochs))):
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, path)
    ds = os.path.join(case, "test_data_set_0")
    os.makedirs(ds, exist_ok=True)
    with torch.no_grad():
        out = model(sample).numpy()
    with open(os.path.join(ds, "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(sample.numpy(), "image").SerializeToString())
    with open(os.path.join(ds, "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(out, "logits").SerializeToString())
    print("wrote %s (%d bytes), test top-1 %.4f" % (path, os.path.getsize(path), acc))


if __name__ == "__main__":
    main()
