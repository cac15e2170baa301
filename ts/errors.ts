/** Every error kiln throws names the argument, what was expected and what came. */
export class KilnError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A shape that does not fit: wrong rank, mismatched dimensions, data length vs shape. */
export class ShapeError extends KilnError {}

/** A dtype kiln does not support for this operation. */
export class DTypeError extends KilnError {}

/** An argument with a bad value: non-finite scalars, unknown options. */
export class ValueError extends KilnError {}

/** A tensor used after `dispose()`. */
export class DisposedError extends KilnError {}

/** A tensor larger than the backend can hold: wasm32 addresses 4 GiB, and the engine may grant less. */
export class OutOfMemoryError extends KilnError {}

/** The backend is not initialised or cannot do what was asked (e.g. a synchronous read on an async backend). */
export class BackendError extends KilnError {}

export function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return `array(${value.length})`;
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return `${typeof value} ${String(value)}`;
}

/** A model file (or checkpoint) that is not what it claims: says what is wrong and where. */
export class ModelFormatError extends KilnError {}
