/**
 * Image files to model inputs: PNG decoded by pngjs and JPEG by jpeg-js (pure JavaScript, no native build and
 * nothing downloaded at install), then resized to the model's input by area averaging (each output pixel the
 * mean of the source pixels it covers, fractional edges weighted), as RGB bytes.
 */
import pngjs from 'pngjs';
import jpeg from 'jpeg-js';
import { ValueError } from '../errors.js';

export interface Rgba {
  width: number;
  height: number;
  /** width × height × 4 bytes. */
  data: Uint8Array;
}

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

/** RGB bytes [height, width, 3] of `image` resized by area averaging. */
export function resizeRgb(image: Rgba, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  const sx = image.width / width;
  const sy = image.height / height;
  for (let y = 0; y < height; y++) {
    const y0 = y * sy;
    const y1 = y0 + sy;
    for (let x = 0; x < width; x++) {
      const x0 = x * sx;
      const x1 = x0 + sx;
      const sum = [0, 0, 0];
      let area = 0;
      for (let py = Math.floor(y0); py < Math.min(image.height, Math.ceil(y1)); py++) {
        const wy = Math.min(py + 1, y1) - Math.max(py, y0);
        for (let px = Math.floor(x0); px < Math.min(image.width, Math.ceil(x1)); px++) {
          const w = wy * (Math.min(px + 1, x1) - Math.max(px, x0));
          const at = (py * image.width + px) * 4;
          for (let c = 0; c < 3; c++) sum[c] += w * image.data[at + c];
          area += w;
        }
      }
      for (let c = 0; c < 3; c++) out[(y * width + x) * 3 + c] = Math.round(sum[c] / area);
    }
  }
  return out;
}
