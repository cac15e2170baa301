"""What the reference onnx package reads from ONNX's backend test cases, for the TS decoder test to compare.

usage: onnx_summary.py ROOT  — prints {case: {...}} as JSON for every ROOT/*/*/model.onnx and its test_data_set_0.
"""
import glob
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

root = sys.argv[1]


def tensor(t):
    summary = {"dims": list(t.dims), "type": t.data_type}
    if t.data_type in (1, 2, 3, 4, 5, 6, 7, 9, 11, 12, 13) and t.data_location == 0:
        try:
            total = float(numpy_helper.to_array(t).astype(np.float64).sum())
            summary["sum" if np.isfinite(total) else "nonfinite"] = total if np.isfinite(total) else True
        except ValueError:  # not a tensor at all (e.g. a SequenceProto read as one): its sizes disagree
            summary["inconsistent"] = True
    return summary


out = {}
for path in sorted(glob.glob(os.path.join(root, "*", "*", "model.onnx"))):
    case = os.path.relpath(os.path.dirname(path), root)
    model = onnx.load(path, load_external_data=False)
    data = {}
    for pb in sorted(glob.glob(os.path.join(os.path.dirname(path), "test_data_set_0", "*.pb"))):
        t = onnx.TensorProto()
        with open(pb, "rb") as f:
            t.ParseFromString(f.read())
        if t.data_type:
            data[os.path.basename(pb)] = tensor(t)
    out[case] = {
        "ir": model.ir_version,
        "opsets": [[o.domain, o.version] for o in model.opset_import],
        "ops": [n.op_type for n in model.graph.node],
        "inputs": [i.name for i in model.graph.input],
        "outputs": [o.name for o in model.graph.output],
        "initializers": {t.name: tensor(t) for t in model.graph.initializer},
        "data": data,
    }
print(json.dumps(out))
