"""onnx.checker on kiln's exported files: usage onnx_check.py FILE.onnx... — prints {file: opset} as JSON, or fails."""
import json
import sys

import onnx

out = {}
for path in sys.argv[1:]:
    onnx.checker.check_model(path, full_check=True)  # full_check: strict shape inference as well
    out[path] = onnx.load(path).opset_import[0].version
print(json.dumps(out))
