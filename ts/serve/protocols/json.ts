/**
 * A JSON parser for request bodies with limits checked while parsing, before any tensor exists: nesting depth
 * (TF Serving's CVE-2025-0649 crashed on deeply nested `instances`) and the number of values. With
 * `nonFinite`, it also takes the NaN, Infinity and -Infinity tokens TF Serving's parser accepts.
 */
import { badRequest, utf8 } from './http.js';

export interface JsonLimits {
  maxDepth: number;
  maxValues: number;
  nonFinite?: boolean;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = { maxDepth: 32, maxValues: 16_000_000 };

export function parseBoundedJson(bytes: Uint8Array | string, limits: JsonLimits): unknown {
  const text = typeof bytes === 'string' ? bytes : utf8.decode(bytes);
  return new Parser(text, limits).document();
}

class Parser {
  private at = 0;
  private values = 0;

  constructor(
    private readonly text: string,
    private readonly limits: JsonLimits,
  ) {}

  document(): unknown {
    this.space();
    const value = this.value(0);
    this.space();
    if (this.at < this.text.length) this.fail('unexpected text after the JSON value');
    return value;
  }

  private fail(problem: string): never {
    throw badRequest(`malformed JSON at character ${this.at}: ${problem}`);
  }

  private space(): void {
    const { text } = this;
    while (this.at < text.length) {
      const c = text.charCodeAt(this.at);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      this.at++;
    }
  }

  private count(): void {
    if (++this.values > this.limits.maxValues) throw badRequest(`the JSON body has more than ${this.limits.maxValues} values`);
  }

  private value(depth: number): unknown {
    this.count();
    const c = this.text.charCodeAt(this.at);
    if (c === 0x5b /* [ */) return this.array(depth + 1);
    if (c === 0x7b /* { */) return this.object(depth + 1);
    if (c === 0x22 /* " */) return this.string();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    for (const [word, value] of KEYWORDS) {
      if (this.text.startsWith(word, this.at)) {
        if (typeof value === 'number' && !this.limits.nonFinite) this.fail(`'${word}' is not JSON (only TF Serving's protocol takes it)`);
        this.at += word.length;
        return value;
      }
    }
    return this.fail(this.at >= this.text.length ? 'the body ends early' : `unexpected '${this.text[this.at]}'`);
  }

  private nested(depth: number): void {
    if (depth > this.limits.maxDepth) throw badRequest(`the JSON body is nested deeper than ${this.limits.maxDepth} levels`);
  }

  private array(depth: number): unknown[] {
    this.nested(depth);
    this.at++;
    const out: unknown[] = [];
    this.space();
    if (this.text.charCodeAt(this.at) === 0x5d) {
      this.at++;
      return out;
    }
    for (;;) {
      this.space();
      out.push(this.value(depth));
      this.space();
      const c = this.text.charCodeAt(this.at++);
      if (c === 0x5d) return out;
      if (c !== 0x2c) this.at--, this.fail("expected ',' or ']'");
    }
  }

  private object(depth: number): Record<string, unknown> {
    this.nested(depth);
    this.at++;
    const out: Record<string, unknown> = Object.create(null);
    this.space();
    if (this.text.charCodeAt(this.at) === 0x7d) {
      this.at++;
      return out;
    }
    for (;;) {
      this.space();
      if (this.text.charCodeAt(this.at) !== 0x22) this.fail('expected a quoted key');
      const key = this.string();
      this.space();
      if (this.text.charCodeAt(this.at++) !== 0x3a) this.at--, this.fail("expected ':'");
      this.space();
      out[key] = this.value(depth);
      this.space();
      const c = this.text.charCodeAt(this.at++);
      if (c === 0x7d) return out;
      if (c !== 0x2c) this.at--, this.fail("expected ',' or '}'");
    }
  }

  private string(): string {
    const { text } = this;
    const start = ++this.at;
    let escaped = false;
    while (this.at < text.length) {
      const c = text.charCodeAt(this.at);
      if (c === 0x22) {
        const raw = text.slice(start, this.at++);
        if (!escaped) return raw;
        try {
          return JSON.parse(`"${raw}"`) as string;
        } catch {
          this.at = start;
          return this.fail('a bad escape in a string');
        }
      }
      if (c < 0x20) this.fail('a control character in a string');
      if (c === 0x5c) {
        escaped = true;
        this.at++;
      }
      this.at++;
    }
    return this.fail('an unterminated string');
  }

  private number(): number {
    const { text } = this;
    const start = this.at;
    if (text.charCodeAt(this.at) === 0x2d) {
      if (this.limits.nonFinite && text.startsWith('-Infinity', this.at)) {
        this.at += 9;
        return -Infinity;
      }
      this.at++;
    }
    const digits = () => {
      const from = this.at;
      while (this.at < text.length && text.charCodeAt(this.at) >= 0x30 && text.charCodeAt(this.at) <= 0x39) this.at++;
      if (this.at === from) this.fail('a digit expected in a number');
    };
    if (text.charCodeAt(this.at) === 0x30) this.at++;
    else digits();
    if (text.charCodeAt(this.at) === 0x2e) {
      this.at++;
      digits();
    }
    const e = text.charCodeAt(this.at);
    if (e === 0x65 || e === 0x45) {
      this.at++;
      const sign = text.charCodeAt(this.at);
      if (sign === 0x2b || sign === 0x2d) this.at++;
      digits();
    }
    return Number(text.slice(start, this.at));
  }
}

const KEYWORDS: [string, unknown][] = [
  ['true', true],
  ['false', false],
  ['null', null],
  ['NaN', NaN],
  ['Infinity', Infinity],
];

/** JSON text of a value whose numbers may be NaN or ±Infinity, written as TF Serving writes them. */
export function stringifyNonFinite(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return `[${value.map(stringifyNonFinite).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${stringifyNonFinite(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}
