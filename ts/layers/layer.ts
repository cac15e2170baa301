/** What every layer is: built once for an input shape, then called on batches. Shapes exclude the batch axis. */
import type { Shape, Tensor } from '../tensor.js';

export interface Layer {
  /** Layer type for summaries, e.g. 'Conv2D'. */
  readonly kind: string;
  /** Creates the weights for `inputShape` (seeded) and returns the output shape. */
  build(inputShape: Shape, seed: number): Shape;
  /** Forward pass on a batch; `training` switches dropout and batch statistics. */
  call(x: Tensor, training: boolean): Tensor;
  /** Trainable weights (empty for layers without any). */
  readonly weights: readonly Tensor[];
  dispose(): void;
}

/** Base for layers without weights. */
export abstract class StatelessLayer implements Layer {
  abstract readonly kind: string;
  readonly weights: readonly Tensor[] = [];
  abstract build(inputShape: Shape, seed: number): Shape;
  abstract call(x: Tensor, training: boolean): Tensor;
  dispose(): void {}
}
