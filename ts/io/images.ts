/**
 * Image files to model inputs: PNG decoded by pngjs and JPEG by jpeg-js (pure JavaScript, no native build and
 * nothing downloaded at install), then resized to the model's input by area averaging (each output pixel the
 * mean of the source pixels it covers, fractional edges weighted: resize.ts), as RGB bytes.
 */
import pngjs from 'pngjs';
import jpeg from 'jpeg-js';
import { ValueError } from '../errors.js';
import type { Rgba } from './resize.js';

/** The largest image decoded, in pixels (a decompression bomb is refused, not allocated). */
const MAX_PIXELS = 50_000_000;

export function decodeImage(bytes: Uint8Array, name: string): Rgba {
  const png = bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const jpg = bytes[0] === 0xff && bytes[1] === 0xd8;
  try {
    if (png) {
      const { width, height, data } = pngjs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
    }
    if (jpg) {
      const { width, height, data } = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
      return { width, height, data };
    }
  } catch (error) {
    throw new ValueError(`${name}: not a readable ${png ? 'PNG' : 'JPEG'} (${(error as Error).message})`);
  }
  throw new ValueError(`${name}: not a PNG or JPEG file (it starts with bytes ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')})`);
}
