import { KilnError } from '../errors.js';

/** A dataset that cannot be found, fetched or read: missing, truncated or corrupt files. */
export class DataError extends KilnError {}
