/** Decoded images resized to a model's input by area averaging; pure, so it runs on every platform. */

export interface Rgba {
  width: number;
  height: number;
  /** width × height × 4 bytes. */
  data: Uint8Array;
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
