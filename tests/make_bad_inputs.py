#!/usr/bin/python3
"""Writes the malformed models and inputs that tests/cli_test.sh feeds to the CLI.

usage: /usr/bin/python3 tests/make_bad_inputs.py OUT_DIR
"""
import os, sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def save(model, name):
    onnx.save(model, os.path.join(out, name))


def relu_graph(extra_init=None, nodes=None, domain_imports=None):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    g = helper.make_graph(nodes or [helper.make_node("Relu", ["x"], ["y"], name="relu0")], "g", [x], [y],
                          initializer=extra_init or [])
    imports = [helper.make_opsetid("", 13)] + (domain_imports or [])
    return helper.make_model(g, opset_imports=imports)


# a good model and good input
save(relu_graph(), "relu.onnx")
good = os.path.join(out, "good")
os.makedirs(good, exist_ok=True)
with open(os.path.join(good, "input_0.pb"), "wb") as f:
    f.write(numpy_helper.from_array(np.array([[-1, 2, -3, 4]], np.float32)).SerializeToString())

# wrong type, wrong rank, wrong dim, too many inputs, missing input
for name, arr in (("wrong_type", np.zeros((1, 4), np.int64)), ("wrong_rank", np.zeros((4,), np.float32)),
                  ("wrong_dim", np.zeros((1, 5), np.float32))):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(arr).SerializeToString())
d = os.path.join(out, "too_many")
os.makedirs(d, exist_ok=True)
for i in range(2):
    with open(os.path.join(d, "input_%d.pb" % i), "wb") as f:
        f.write(numpy_helper.from_array(np.zeros((1, 4), np.float32)).SerializeToString())
os.makedirs(os.path.join(out, "empty_dir"), exist_ok=True)

# an input tensor whose dims overflow
d = os.path.join(out, "huge_input")
os.makedirs(d, exist_ok=True)
t = TensorProto(name="x", data_type=TensorProto.FLOAT, dims=[2**40, 2**40])
with open(os.path.join(d, "input_0.pb"), "wb") as f:
    f.write(t.SerializeToString())

# an initializer whose dims overflow
w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2**31, 2**31, 2**31], raw_data=b"\0" * 16)
save(relu_graph(extra_init=[w], nodes=[helper.make_node("Mul", ["x", "w"], ["y"], name="mul0")]),
     "overflow_init.onnx")

# external data: missing file, and a location that leaves the model's folder
for name, loc in (("missing_external.onnx", "weights_absent.bin"), ("escaping_external.onnx", "../../etc/passwd")):
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
    w.data_location = TensorProto.EXTERNAL
    e = w.external_data.add()
    e.key, e.value = "location", loc
    save(relu_graph(extra_init=[w], nodes=[helper.make_node("Mul", ["x", "w"], ["y"], name="mul0")]), name)

# a valid model with external data (a plan refuses to embed it)
w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
w.data_location = TensorProto.EXTERNAL
e = w.external_data.add()
e.key, e.value = "location", "weights_ok.bin"
open(os.path.join(out, "weights_ok.bin"), "wb").write(np.array([1, 2, 3, 4], np.float32).tobytes())
save(relu_graph(extra_init=[w], nodes=[helper.make_node("Mul", ["x", "w"], ["y"], name="mul0")]), "good_external.onnx")

# unknown opset domain; unsupported op; undefined input
save(relu_graph(domain_imports=[helper.make_opsetid("com.example.unknown", 1)]), "unknown_domain.onnx")
save(relu_graph(nodes=[helper.make_node("FrobnicateTensor", ["x"], ["y"], name="frob0")]), "unsupported_op.onnx")
save(relu_graph(nodes=[helper.make_node("Add", ["x", "ghost"], ["y"], name="add0")]), "undefined_input.onnx")

# truncated, non-protobuf and empty files
raw = open(os.path.join(out, "relu.onnx"), "rb").read()
open(os.path.join(out, "truncated.onnx"), "wb").write(raw[: len(raw) // 2])
open(os.path.join(out, "text.onnx"), "w").write("this is a text file, not an ONNX model\n")
open(os.path.join(out, "empty.onnx"), "wb").close()

# a model-local function (inlined at load), whose LeakyRelu alpha comes from the call's attribute
fn = helper.make_function("local.fn", "AddLeaky", ["a", "b"], ["c"],
                          [helper.make_node("Add", ["a", "b"], ["t"]),
                           helper.make_node("LeakyRelu", ["t"], ["c"], alpha=0.0)],
                          [helper.make_opsetid("", 13)], [])
fn.node[1].attribute[0].ref_attr_name = "slope"
g = helper.make_graph([helper.make_node("AddLeaky", ["x", "y"], ["z"], domain="local.fn", slope=0.2)], "g",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
                       helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
                      [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])])
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("local.fn", 1)],
                       functions=[fn]), "function.onnx")
d = os.path.join(out, "function_in")
os.makedirs(d, exist_ok=True)
np.save(os.path.join(d, "input_0.npy"), np.array([-1, 2], np.float32))
np.save(os.path.join(d, "input_1.npy"), np.array([-1, 0], np.float32))

# a valid model asked for a hostile size at run time: 400 GB from ConstantOfShape
g = helper.make_graph([helper.make_node("ConstantOfShape", ["s"], ["y"], name="big")], "g",
                      [helper.make_tensor_value_info("s", TensorProto.INT64, [3])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "hostile_shape.onnx")
d = os.path.join(out, "hostile_in")
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "input_0.pb"), "wb") as f:
    f.write(numpy_helper.from_array(np.array([100000, 100000, 10], np.int64)).SerializeToString())

# a small CNN for plans (`plaster build`): Conv + Relu, a residual Conv + Add, pooling and Gemm
rng = np.random.default_rng(7)
def init(name, shape):
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.3, name)
nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
         helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
         helper.make_node("Add", ["c2", "r1"], ["a2"], name="add2"),
         helper.make_node("GlobalAveragePool", ["a2"], ["p"], name="pool"),
         helper.make_node("Flatten", ["p"], ["f"], name="flat"),
         helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], name="fc", transB=1)]
g = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
                      initializer=[init("w1", (8, 3, 3, 3)), init("b1", (8,)), init("w2", (8, 8, 3, 3)),
                                   init("b2", (8,)), init("wf", (5, 8)), init("bf", (5,))])
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "cnn.onnx")
d = os.path.join(out, "cnn_in")
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "input_0.pb"), "wb") as f:
    f.write(numpy_helper.from_array(rng.standard_normal((2, 3, 8, 8)).astype(np.float32), "x").SerializeToString())
