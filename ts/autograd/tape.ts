/**
 * Reverse-mode autodiff with a tape (micrograd's idea over whole tensors). While `valueAndGrads` runs its
 * function, every op whose inputs depend on a watched parameter records a node: its inputs, its output and a
 * closure mapping the output's gradient to its inputs' gradients (each op's rule sits next to its forward, in
 * ts/ops/). Backward walks the nodes in reverse, summing gradients. Everything runs inside `scope()`, so the
 * saved activations and intermediate gradients are freed when it returns.
 *
 * Why a tape rather than layer-level backward: users write custom losses from tensor ops (a distillation loss
 * mixing two terms is a few lines) and get gradients without writing any backward code.
 */
import { Tensor, scope } from '../tensor.js';
import { ValueError, describe } from '../errors.js';
import { add } from '../ops/elementwise.js';
import { ones, zeros } from '../ops/creation.js';

/** Gradients of the inputs from the output's; `needed[i]` is false when input i needs none (may return null). */
export type Backward = (dy: Tensor, needed: boolean[]) => (Tensor | null)[];

interface Node {
  inputs: Tensor[];
  output: Tensor;
  backward: Backward;
}

interface Tape {
  nodes: Node[];
  watched: Set<Tensor>;
}

let active: Tape | null = null;

/** Whether an op on `inputs` would be recorded now (ops use it to free what only backward needs). */
export function willRecord(inputs: Tensor[]): boolean {
  return active !== null && inputs.some((t) => active!.watched.has(t));
}

/** Called by ops after computing `output` from `inputs`; records `backward` when an input is watched. */
export function record(output: Tensor, inputs: Tensor[], backward: Backward): Tensor {
  const tape = active;
  if (tape && willRecord(inputs)) {
    tape.nodes.push({ inputs, output, backward });
    tape.watched.add(output);
  }
  return output;
}

/** Runs `f` without recording (e.g. inference inside a training step). */
export function noGrad<T>(f: () => T): T {
  const saved = active;
  active = null;
  try {
    return f();
  } finally {
    active = saved;
  }
}

/**
 * Runs `f`, whose result holds a scalar `loss` tensor (and any other tensors to keep, e.g. predictions), and
 * returns that result plus d(loss)/d(param) for each of `params`. All other tensors created are freed.
 */
export function valueAndGrads<T extends { loss: Tensor }>(f: () => T, params: Tensor[]): T & { grads: Tensor[] } {
  if (active) throw new ValueError('valueAndGrads(): nested calls are not supported');
  return scope(() => {
    const tape: Tape = { nodes: [], watched: new Set(params) };
    active = tape;
    let result: T;
    try {
      result = f();
    } finally {
      active = null;
    }
    const { loss } = result;
    if (!(loss instanceof Tensor) || loss.size !== 1) {
      throw new ValueError(`valueAndGrads(): f must return { loss } with a scalar tensor, got ${loss instanceof Tensor ? `shape [${loss.shape}]` : describe(loss)}`);
    }
    const grads = new Map<Tensor, Tensor>();
    grads.set(loss, ones(loss.shape));
    for (let i = tape.nodes.length - 1; i >= 0; i--) {
      const node = tape.nodes[i];
      const dy = grads.get(node.output);
      if (!dy) continue;
      node.backward(dy, node.inputs.map((t) => tape.watched.has(t))).forEach((dx, j) => {
        const input = node.inputs[j];
        if (!dx || !tape.watched.has(input)) return;
        const previous = grads.get(input);
        grads.set(input, previous ? add(previous, dx) : dx);
      });
    }
    return { ...result, grads: params.map((p) => grads.get(p) ?? zeros(p.shape)) };
  });
}

/** Gradient of a scalar function of `params` (convenience over `valueAndGrads`). */
export function grad(f: () => Tensor, params: Tensor[]): Tensor[] {
  return valueAndGrads(() => ({ loss: f() }), params).grads;
}
