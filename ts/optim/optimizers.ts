/**
 * Optimizers update weights in place from their gradients, keeping per-weight state (moments) in tensors of
 * their own. Each is one backend kernel per weight and step.
 */
import { ValueError, describe } from '../errors.js';
import { keep, type Tensor } from '../tensor.js';
import { filledTensor } from '../ops/validate.js';
import type { Schedule } from './schedules.js';

export interface Optimizer {
  readonly name: string;
  /** Steps taken so far. */
  readonly iterations: number;
  apply(weights: readonly Tensor[], grads: readonly Tensor[]): void;
  /** Learning rate of the next step (the rate or schedule's value, times `learningRateScale`). */
  currentLearningRate(): number;
  /** Multiplies the learning rate (reduceLROnPlateau lowers it); 1 at first. */
  learningRateScale: number;
  /**
   * The state tensors kept per weight (Adam's two moments, a velocity, …), in order of `weights`, made zeroed
   * where none exist yet: what a checkpoint saves and restores (with `iterations`).
   */
  slots(weights: readonly Tensor[]): Tensor[];
  /** Sets the step count, as a resumed checkpoint does. */
  restoreIterations(iterations: number): void;
  dispose(): void;
}

type Rate = number | Schedule;

function checkPositive(op: string, name: string, value: unknown): void {
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) throw new ValueError(`${op}: ${name} must be a positive number, got ${describe(value)}`);
}

function checkFraction(op: string, name: string, value: unknown): void {
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) throw new ValueError(`${op}: ${name} must be in [0, 1), got ${describe(value)}`);
}

abstract class BaseOptimizer implements Optimizer {
  abstract readonly name: string;
  iterations = 0;
  learningRateScale = 1;
  private readonly slotsOf = new Map<Tensor, Tensor[]>();
  /** State tensors per weight. */
  protected abstract readonly slotCount: number;

  constructor(private readonly learningRate: Rate) {
    if (typeof learningRate !== 'function') checkPositive('optimizer', 'learningRate', learningRate);
  }

  currentLearningRate(): number {
    const rate = typeof this.learningRate === 'function' ? this.learningRate(this.iterations) : this.learningRate;
    return rate * this.learningRateScale;
  }

  slots(weights: readonly Tensor[]): Tensor[] {
    return this.slotCount === 0 ? [] : weights.flatMap((w) => this.state(w, this.slotCount));
  }

  restoreIterations(iterations: number): void {
    if (!Number.isInteger(iterations) || iterations < 0) throw new ValueError(`${this.name}: iterations must be a non-negative integer, got ${describe(iterations)}`);
    this.iterations = iterations;
  }

  /** Zeroed state tensors for `weight`, created on first use. */
  protected state(weight: Tensor, count: number): Tensor[] {
    let slots = this.slotsOf.get(weight);
    if (!slots) {
      slots = Array.from({ length: count }, () => keep(filledTensor(weight.backend, weight.shape, 0)));
      this.slotsOf.set(weight, slots);
    }
    return slots;
  }

  apply(weights: readonly Tensor[], grads: readonly Tensor[]): void {
    if (weights.length !== grads.length) throw new ValueError(`${this.name}.apply(): ${weights.length} weights but ${grads.length} gradients`);
    const lr = this.currentLearningRate();
    this.iterations++;
    weights.forEach((w, i) => {
      if (grads[i].shape.join() !== w.shape.join()) {
        throw new ValueError(`${this.name}.apply(): gradient ${i} has shape [${grads[i].shape}], its weight [${w.shape}]`);
      }
      this.update(w, grads[i], lr);
    });
  }

  protected abstract update(weight: Tensor, grad: Tensor, lr: number): void;

  dispose(): void {
    for (const slots of this.slotsOf.values()) for (const t of slots) t.dispose();
    this.slotsOf.clear();
  }
}

export interface AdamOptions {
  learningRate?: Rate;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Decoupled weight decay (AdamW) when > 0. */
  weightDecay?: number;
}

export class Adam extends BaseOptimizer {
  readonly name: string;
  protected readonly slotCount = 2;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly weightDecay: number;

  constructor({ learningRate = 1e-3, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-7, weightDecay = 0 }: AdamOptions = {}) {
    super(learningRate);
    checkFraction('adam()', 'beta1', beta1);
    checkFraction('adam()', 'beta2', beta2);
    checkPositive('adam()', 'epsilon', epsilon);
    if (!(weightDecay >= 0)) throw new ValueError(`adam(): weightDecay must be ≥ 0, got ${describe(weightDecay)}`);
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.epsilon = epsilon;
    this.weightDecay = weightDecay;
    this.name = weightDecay > 0 ? 'AdamW' : 'Adam';
  }

  protected update(weight: Tensor, grad: Tensor, lr: number): void {
    const [m, v] = this.state(weight, 2);
    weight.backend.adamUpdate(weight.storage, grad.storage, m.storage, v.storage, {
      lr, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, step: this.iterations, weightDecay: this.weightDecay,
    });
  }
}

export interface SgdOptions {
  learningRate?: Rate;
  momentum?: number;
  nesterov?: boolean;
}

export class SGD extends BaseOptimizer {
  readonly name = 'SGD';
  protected get slotCount() {
    return this.momentum > 0 ? 1 : 0;
  }
  private readonly momentum: number;
  private readonly nesterov: boolean;

  constructor({ learningRate = 0.01, momentum = 0, nesterov = false }: SgdOptions = {}) {
    super(learningRate);
    checkFraction('sgd()', 'momentum', momentum);
    this.momentum = momentum;
    this.nesterov = nesterov;
  }

  protected update(weight: Tensor, grad: Tensor, lr: number): void {
    const velocity = this.momentum > 0 ? this.state(weight, 1)[0].storage : null;
    weight.backend.sgdUpdate(weight.storage, grad.storage, velocity, lr, this.momentum, this.nesterov);
  }
}

export class AdaGrad extends BaseOptimizer {
  readonly name = 'AdaGrad';
  protected readonly slotCount = 1;
  private readonly epsilon: number;
  constructor({ learningRate = 1e-3, epsilon = 1e-7 }: { learningRate?: Rate; epsilon?: number } = {}) {
    super(learningRate);
    this.epsilon = epsilon;
  }
  protected update(weight: Tensor, grad: Tensor, lr: number): void {
    weight.backend.adagradUpdate(weight.storage, grad.storage, this.state(weight, 1)[0].storage, lr, this.epsilon);
  }
}

export class RMSprop extends BaseOptimizer {
  readonly name = 'RMSprop';
  protected readonly slotCount = 1;
  private readonly rho: number;
  private readonly epsilon: number;
  constructor({ learningRate = 1e-3, rho = 0.9, epsilon = 1e-7 }: { learningRate?: Rate; rho?: number; epsilon?: number } = {}) {
    super(learningRate);
    checkFraction('rmsprop()', 'rho', rho);
    this.rho = rho;
    this.epsilon = epsilon;
  }
  protected update(weight: Tensor, grad: Tensor, lr: number): void {
    weight.backend.rmspropUpdate(weight.storage, grad.storage, this.state(weight, 1)[0].storage, lr, this.rho, this.epsilon);
  }
}
