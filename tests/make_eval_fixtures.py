#!/usr/bin/env python3
"""Writes small datasets and models for the `plaster eval` tests into DIR (argv[1]).

tiny.onnx: x [N,3,4,4] -> GlobalAveragePool -> Flatten -> y [N,3], so the predicted class of
an image is its brightest channel after normalisation: red -> 0, green -> 1, blue -> 2.
PNG files are written by hand (zlib + crc32); no PIL needed.
"""
import os
import struct
import sys
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]


def write_png(path, rgb):
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].astype(np.uint8).tobytes() for y in range(h))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw)))
        f.write(chunk(b"IEND", b""))


def solid(h, w, colour):
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :] = colour
    return img


def model(path, out_rank2=True):
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["p"])]
    if out_rank2:
        nodes.append(helper.make_node("Flatten", ["p"], ["y"], axis=1))
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    else:
        nodes.append(helper.make_node("ReduceMean", ["p"], ["y"], axes=[1, 2, 3], keepdims=0))
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 4])
    g = helper.make_graph(nodes, "tiny", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, path)


def mkdir(*parts):
    p = os.path.join(out, *parts)
    os.makedirs(p, exist_ok=True)
    return p


model(os.path.join(out, "tiny.onnx"))
# the same classifier on channels-last images: x [N,4,4,3] -> mean over H, W -> y [N,3]
g = helper.make_graph([helper.make_node("ReduceMean", ["x"], ["y"], axes=[1, 2], keepdims=0)], "tiny_nhwc",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 4, 3])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.save(m, os.path.join(out, "tiny_nhwc.onnx"))
model(os.path.join(out, "bad_output.onnx"), out_rank2=False)

RED, GREEN, BLUE = (200, 10, 10), (10, 200, 10), (10, 10, 200)
write_png(os.path.join(mkdir("images", "0_red"), "a.png"), solid(8, 6, RED))
write_png(os.path.join(mkdir("images", "0_red"), "b.png"), solid(6, 9, GREEN))  # misfiled: predicted 1
write_png(os.path.join(mkdir("images", "1_green"), "c.png"), solid(5, 5, GREEN))
write_png(os.path.join(mkdir("images", "2_blue"), "d.png"), solid(7, 4, BLUE))
with open(os.path.join(mkdir("images", "2_blue"), "notes.txt"), "w") as f:
    f.write("not an image\n")

with open(os.path.join(mkdir("corrupt_png", "0"), "bad.png"), "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"garbage" * 5)
with open(os.path.join(mkdir("corrupt_jpeg", "0"), "bad.jpg"), "wb") as f:
    f.write(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x13\x37" * 40)

# IDX: images without labels beside them, and labels that do not match the count
d = mkdir("idx")
imgs = np.zeros((3, 4, 4), np.uint8)
with open(os.path.join(d, "lonely-images-idx3-ubyte"), "wb") as f:
    f.write(bytes([0, 0, 8, 3]) + struct.pack(">III", 3, 4, 4) + imgs.tobytes())
with open(os.path.join(d, "short-images-idx3-ubyte"), "wb") as f:
    f.write(bytes([0, 0, 8, 3]) + struct.pack(">III", 3, 4, 4) + imgs.tobytes())
with open(os.path.join(d, "short-labels-idx1-ubyte"), "wb") as f:
    f.write(bytes([0, 0, 8, 1]) + struct.pack(">I", 2) + bytes([0, 1]))

# .npy pair: float samples used as they are; the brightest channel is the class
x = np.zeros((5, 3, 4, 4), np.float32)
y = np.array([0, 1, 2, 2, 1], np.int64)
for i, c in enumerate([0, 1, 2, 0, 1]):  # sample 3 is predicted 0 but labelled 2
    x[i, c] = 1.0
d = mkdir("npy")
np.save(os.path.join(d, "x.npy"), x)
np.save(os.path.join(d, "y.npy"), y)

# ONNX test data: expected class = argmax of output_0
for i, c in enumerate([2, 0, 1]):
    d = mkdir("onnx_tests", "test_data_set_%d" % i)
    xi = np.zeros((1, 3, 4, 4), np.float32)
    xi[0, c] = 0.5
    yi = np.zeros((1, 3), np.float32)
    yi[0, c if i < 2 else 0] = 1.0  # set 2 expects class 0 but the model says 1
    with open(os.path.join(d, "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(xi, "x").SerializeToString())
    with open(os.path.join(d, "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(yi, "y").SerializeToString())
