/** Learning-rate schedules: functions from the 0-based step to a rate. */
export type Schedule = (step: number) => number;

/** initial · factor^⌊step / every⌋ */
export const stepDecay = (initial: number, every: number, factor: number): Schedule => (step) => initial * factor ** Math.floor(step / every);

/** initial · rate^(step / decaySteps) */
export const exponentialDecay = (initial: number, decaySteps: number, rate: number): Schedule => (step) => initial * rate ** (step / decaySteps);

/** Cosine from initial down to initial·alpha over decaySteps, then flat. */
export const cosineDecay = (initial: number, decaySteps: number, alpha = 0): Schedule => (step) => {
  const progress = Math.min(step, decaySteps) / decaySteps;
  return initial * ((1 - alpha) * 0.5 * (1 + Math.cos(Math.PI * progress)) + alpha);
};
