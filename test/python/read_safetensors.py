"""Reads a kiln model file with the safetensors package and prints each tensor's dtype, shape and SHA-256."""
import hashlib
import json
import sys

from safetensors import safe_open
from safetensors.numpy import load_file

path = sys.argv[1]
tensors = load_file(path)
with safe_open(path, framework="numpy") as f:
    metadata = f.metadata()
print(json.dumps({
    "metadata": metadata,
    "tensors": {
        name: {"dtype": str(t.dtype), "shape": list(t.shape), "sha256": hashlib.sha256(t.astype("<f4").tobytes()).hexdigest()}
        for name, t in tensors.items()
    },
}))
