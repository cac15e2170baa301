/**
 * `kiln/onnx`: ONNX in and out, an entry of its own so that a bundle which only runs models carries neither
 * protobuf nor the exporter: `import { toOnnx } from 'kiln/onnx'`.
 */
export { modelToOnnx as toOnnx, OPSET, type OnnxExportOptions } from './export.js';
