"""Stock clients against `kiln serve`, unchanged: tritonclient[http] (KServe v2 / Triton) and requests (TF Serving).

usage: serve_clients.py HOST:PORT MODEL INPUT.bin ROWS  — prints the outputs each client got, as JSON.
"""
import json
import sys

import numpy as np
import requests
import tritonclient.http as httpclient

host, model, path, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
x = np.fromfile(path, dtype=np.float32).reshape(rows, 32, 32, 3)
client = httpclient.InferenceServerClient(url=host)
metadata = client.get_model_metadata(model)
config = client.get_model_config(model)
input_name, output_name = metadata["inputs"][0]["name"], metadata["outputs"][0]["name"]


def triton(binary, **options):
    tensor = httpclient.InferInput(input_name, list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary)
    outputs = None if binary else [httpclient.InferRequestedOutput(output_name, binary_data=False)]
    result = client.infer(model, [tensor], outputs=outputs, request_id="req-7", **options)
    response = result.get_response()
    return {"id": response.get("id"), "version": response.get("model_version"), "values": result.as_numpy(output_name).astype(float).ravel().tolist()}


base = f"http://{host}/v1/models/{model}"
row = requests.post(f"{base}:predict", json={"signature_name": "serving_default", "instances": x.tolist()}).json()
columnar = requests.post(f"{base}:predict", json={"inputs": x.tolist()}).json()
print(json.dumps({
    "live": client.is_server_live(),
    "ready": client.is_server_ready(),
    "model_ready": client.is_model_ready(model),
    "max_batch_size": config["max_batch_size"],
    "triton_binary": triton(True),
    "triton_json": triton(False),
    "triton_gzip": triton(True, request_compression_algorithm="gzip", response_compression_algorithm="gzip"),
    "triton_deflate": triton(False, request_compression_algorithm="deflate"),
    "tf_row": np.array(row["predictions"], dtype=float).ravel().tolist(),
    "tf_columnar": np.array(columnar["outputs"], dtype=float).ravel().tolist(),
    "tf_status": requests.get(base).json(),
    "tf_metadata": requests.get(f"{base}/metadata").json(),
}))
