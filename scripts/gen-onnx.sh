#!/usr/bin/env bash
# Regenerates ts/io/onnx/onnx_pb.ts from ts/io/onnx/onnx.proto (buf + protoc-gen-es, devDependencies).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/ts/io/onnx"
PATH="$root/node_modules/.bin:$PATH" buf generate --template buf.gen.yaml onnx.proto
