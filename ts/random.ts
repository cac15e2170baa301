/** Seeded pseudo-random numbers, so initialisation, shuffling and dropout are reproducible. */

/** Uniform floats in [0, 1); `draws` counts the numbers drawn, which with the seed is the whole state. */
export type RandomSource = (() => number) & { readonly draws: number };

/**
 * mulberry32: a small, fast 32-bit generator. Its state advances by a constant per draw, so a generator can
 * start `draws` numbers in (a resumed checkpoint continues the same sequence).
 */
export function mulberry32(seed: number, draws = 0): RandomSource {
  let state = (seed + Math.imul(draws, 0x6d2b79f5)) >>> 0;
  let count = draws;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    count++;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Object.defineProperty(next, 'draws', { get: () => count }) as RandomSource;
}

/** In-place Fisher–Yates shuffle. */
export function shuffleInPlace<T extends { length: number; [i: number]: number }>(values: T, random: () => number): T {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = values[i];
    values[i] = values[j];
    values[j] = tmp;
  }
  return values;
}
