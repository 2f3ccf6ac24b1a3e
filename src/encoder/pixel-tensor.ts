/**
 * The model package's image preprocessing (docs/model-package.md): bicubic resize of the short
 * side to `size` (long side floor(long * size / short)), centre crop with
 * top = round((h - size) / 2), then (x / 255 - mean) / std into a CHW float32 tensor.
 */
import type { ModelManifest } from '../core/manifest';
import { type RgbImage, resizeBicubicWindow } from './pil-resample';

export type ImageSpec = Pick<ModelManifest['image'], 'size' | 'mean' | 'std'>;

/** Python's round() (half to even), as the kit's `int(round((h - size) / 2.0))`. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Resized size for the short-side rule, as the kit's integer arithmetic computes it. */
export function shortSideSize(
  width: number,
  height: number,
  size: number,
): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.floor((size * height) / width) };
  return { width: Math.floor((size * width) / height), height: size };
}

/** The `size x size` RGB crop the model sees. */
export function resizeAndCrop(image: RgbImage, size: number): RgbImage {
  const resized = shortSideSize(image.width, image.height, size);
  const top = roundHalfEven((resized.height - size) / 2);
  const left = roundHalfEven((resized.width - size) / 2);
  return resizeBicubicWindow(image, resized.width, resized.height, { left, top, width: size, height: size });
}

/** HWC uint8 -> CHW float32, normalised with the package's mean and std, written at `offset` of `out`. */
export function normalise(image: RgbImage, spec: ImageSpec, out?: Float32Array, offset = 0): Float32Array {
  const plane = image.width * image.height;
  const target = out ?? new Float32Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    // float32 arithmetic, as numpy computes it in the kit
    const mean = Math.fround(spec.mean[c] as number);
    const std = Math.fround(spec.std[c] as number);
    const base = offset + c * plane;
    for (let i = 0; i < plane; i++) {
      const x = Math.fround((image.data[i * 3 + c] as number) / 255);
      target[base + i] = Math.fround(x - mean) / std;
    }
  }
  return target;
}

/** The normalised `[3, size, size]` tensor of an image. */
export function pixelValues(image: RgbImage, spec: ImageSpec): Float32Array {
  return normalise(resizeAndCrop(image, spec.size), spec);
}

/**
 * Tensors of the cells of a rows x cols grid laid over the preprocessed crop, row-major; each
 * cell is resized to the model's size with the same bicubic filter.
 */
export function gridPixelValues(
  image: RgbImage,
  spec: ImageSpec,
  rows: number,
  cols: number,
): Float32Array[] {
  const crop = resizeAndCrop(image, spec.size);
  const cells: Float32Array[] = [];
  for (let r = 0; r < rows; r++) {
    const top = Math.round((r * crop.height) / rows);
    const bottom = Math.round(((r + 1) * crop.height) / rows);
    for (let c = 0; c < cols; c++) {
      const left = Math.round((c * crop.width) / cols);
      const right = Math.round(((c + 1) * crop.width) / cols);
      const cell = new Uint8Array((right - left) * (bottom - top) * 3);
      for (let y = top; y < bottom; y++) {
        const from = (y * crop.width + left) * 3;
        cell.set(crop.data.subarray(from, from + (right - left) * 3), (y - top) * (right - left) * 3);
      }
      const cellImage = { width: right - left, height: bottom - top, data: cell };
      const window = { left: 0, top: 0, width: spec.size, height: spec.size };
      cells.push(normalise(resizeBicubicWindow(cellImage, spec.size, spec.size, window), spec));
    }
  }
  return cells;
}
