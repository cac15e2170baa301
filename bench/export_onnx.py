#!/usr/bin/env python3
"""Writes kiln's CIFAR-10 CNN (kiln.cifar10Cnn) as an ONNX model, from a weights file written by kiln.

    python3 bench/export_onnx.py WEIGHTS.json MODEL.onnx

WEIGHTS.json (written by bench/infer.js):
    {"format": "kiln-weights-v1",
     "weights": [{"shape": [3, 3, 3, 32], "data": "<base64 of little-endian float32, row-major>"}, ...]}
in kiln's layer order: conv1 kernel [3,3,3,32] (HWIO), conv1 bias [32], conv2 kernel [3,3,32,64], bias [64],
conv3 kernel [3,3,64,64], bias [64], dense1 kernel [1024,64], bias [64], dense2 kernel [64,10], bias [10].

The graph takes NHWC input `x` [N,32,32,3] (dynamic N) and gives logits `logits` [N,10], like kiln:
Transpose→NCHW, (Conv+Relu, MaxPool)×2, Conv+Relu, Transpose→NHWC (so Flatten sees kiln's [4,4,64] row-major
order), Flatten, Gemm+Relu, Gemm. Opset 13. Needs the `onnx` package (and numpy, which it brings).
"""
import base64
import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

EXPECTED = [[3, 3, 3, 32], [32], [3, 3, 32, 64], [64], [3, 3, 64, 64], [64], [1024, 64], [64], [64, 10], [10]]


def read_weights(path):
    with open(path) as f:
        doc = json.load(f)
    if doc.get("format") != "kiln-weights-v1":
        raise SystemExit(f"{path}: not a kiln-weights-v1 file")
    out = []
    for i, w in enumerate(doc["weights"]):
        a = np.frombuffer(base64.b64decode(w["data"]), dtype="<f4")
        if a.size != int(np.prod(w["shape"])):
            raise SystemExit(f"{path}: weight {i} has {a.size} values for shape {w['shape']}")
        out.append(a.reshape(w["shape"]).astype(np.float32))
    shapes = [list(a.shape) for a in out]
    if shapes != EXPECTED:
        raise SystemExit(f"{path}: shapes {shapes} are not those of kiln.cifar10Cnn {EXPECTED}")
    return out


def build(weights):
    k1, b1, k2, b2, k3, b3, d1, c1, d2, c2 = weights
    hwio_to_oihw = lambda k: np.ascontiguousarray(k.transpose(3, 2, 0, 1))
    init = [
        numpy_helper.from_array(hwio_to_oihw(k1), "conv1.W"), numpy_helper.from_array(b1, "conv1.B"),
        numpy_helper.from_array(hwio_to_oihw(k2), "conv2.W"), numpy_helper.from_array(b2, "conv2.B"),
        numpy_helper.from_array(hwio_to_oihw(k3), "conv3.W"), numpy_helper.from_array(b3, "conv3.B"),
        numpy_helper.from_array(d1, "dense1.W"), numpy_helper.from_array(c1, "dense1.B"),
        numpy_helper.from_array(d2, "dense2.W"), numpy_helper.from_array(c2, "dense2.B"),
    ]
    conv = lambda i, src, dst: helper.make_node("Conv", [src, f"conv{i}.W", f"conv{i}.B"], [dst], kernel_shape=[3, 3], pads=[0, 0, 0, 0], strides=[1, 1])
    pool = lambda src, dst: helper.make_node("MaxPool", [src], [dst], kernel_shape=[2, 2], strides=[2, 2])
    nodes = [
        helper.make_node("Transpose", ["x"], ["x_nchw"], perm=[0, 3, 1, 2]),
        conv(1, "x_nchw", "c1"), helper.make_node("Relu", ["c1"], ["r1"]), pool("r1", "p1"),
        conv(2, "p1", "c2"), helper.make_node("Relu", ["c2"], ["r2"]), pool("r2", "p2"),
        conv(3, "p2", "c3"), helper.make_node("Relu", ["c3"], ["r3"]),
        helper.make_node("Transpose", ["r3"], ["r3_nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Flatten", ["r3_nhwc"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "dense1.W", "dense1.B"], ["g1"]), helper.make_node("Relu", ["g1"], ["h1"]),
        helper.make_node("Gemm", ["h1", "dense2.W", "dense2.B"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "kiln_cifar10_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 32, 32, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="kiln bench/export_onnx.py")
    model.ir_version = 8  # readable by onnxruntime ≥ 1.14
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    model = build(read_weights(sys.argv[1]))
    onnx.save(model, sys.argv[2])
    print(f"wrote {sys.argv[2]} ({sum(int(np.prod(t.dims)) for t in model.graph.initializer)} parameters, opset 13)")


if __name__ == "__main__":
    main()
