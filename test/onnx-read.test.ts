// The ONNX decoder (@bufbuild/protobuf over ONNX's onnx.proto) against the reference Python `onnx` package, on
// every model and test tensor of ONNX's backend test cases; and hostile bytes: named errors only.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../ts/errors.js';
import { readOnnxModel, readOnnxTensor, tensorValues } from '../ts/io/onnx/read.js';
import type { TensorProto } from '../ts/io/onnx/onnx_pb.js';

const root = new URL('..', import.meta.url).pathname;
const cases = new URL('../../shared/data/onnx-backend-tests', import.meta.url).pathname;

interface TensorSummary { dims: number[]; type: number; sum?: number; nonfinite?: boolean; inconsistent?: boolean }

function expectSame(tensor: TensorProto, want: TensorSummary, what: string) {
  expect(tensor.dims.map(Number), what).toEqual(want.dims);
  expect(tensor.dataType, what).toBe(want.type);
  if (want.inconsistent) {
    expect(() => tensorValues(tensor), what).toThrow(ModelFormatError);
  } else if (want.sum !== undefined || want.nonfinite) {
    let sum = 0;
    for (const v of tensorValues(tensor, what).data) sum += Number(v);
    if (want.nonfinite) return expect(Number.isFinite(sum), what).toBe(false);
    expect(Math.abs(sum - want.sum!), what).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want.sum!)));
  }
}

describe.skipIf(!existsSync(cases))('ONNX decoding', () => {
  it('reads every backend test case as the reference onnx package does', () => {
    const summary = JSON.parse(execFileSync(join(root, '.venv/bin/python'), [join(root, 'test/python/onnx_summary.py'), cases], { encoding: 'utf8', maxBuffer: 1 << 28 }));
    const names = Object.keys(summary);
    expect(names.length).toBeGreaterThan(1900);
    for (const name of names) {
      const want = summary[name];
      const dir = join(cases, name);
      const model = readOnnxModel(new Uint8Array(readFileSync(join(dir, 'model.onnx'))), name);
      const graph = model.graph!;
      expect(Number(model.irVersion), name).toBe(want.ir);
      expect(model.opsetImport.map((o) => [o.domain, Number(o.version)]), name).toEqual(want.opsets);
      expect(graph.node.map((n) => n.opType), name).toEqual(want.ops);
      expect(graph.input.map((i) => i.name), name).toEqual(want.inputs);
      expect(graph.output.map((o) => o.name), name).toEqual(want.outputs);
      expect(graph.initializer.map((t) => t.name).sort(), name).toEqual(Object.keys(want.initializers).sort());
      for (const t of graph.initializer) expectSame(t, want.initializers[t.name], `${name} initializer ${t.name}`);
      for (const [file, tensor] of Object.entries(want.data as Record<string, TensorSummary>)) {
        expectSame(readOnnxTensor(new Uint8Array(readFileSync(join(dir, 'test_data_set_0', file)))), tensor, `${name}/${file}`);
      }
    }
  }, 120_000);

  it('answers truncated and bit-flipped files with ModelFormatError, never another error', () => {
    const dir = join(cases, 'pytorch-converted');
    const conv = readdirSync(dir).find((d) => d.startsWith('test_Conv2d'))!;
    const bytes = new Uint8Array(readFileSync(join(dir, conv, 'model.onnx')));
    let seed = 7;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    let refused = 0;
    for (let trial = 0; trial < 3000; trial++) {
      const broken = trial % 2 ? bytes.slice(0, random(bytes.length)) : bytes.slice();
      if (trial % 2 === 0) for (let k = 0; k < 1 + random(8); k++) broken[random(broken.length)] ^= 1 << random(8);
      try {
        const model = readOnnxModel(broken);
        for (const t of model.graph!.initializer) tensorValues(t);
      } catch (error) {
        expect(error, String(error)).toBeInstanceOf(ModelFormatError);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(1000);
  });
});
