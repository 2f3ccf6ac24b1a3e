/**
 * The model package's image preprocessing (docs/model-package.md): bicubic resize of the short
 * side to `size` (long side floor(long * size / short)), centre crop with
 * top = round((h - size) / 2), then (x / 255 - mean) / std into a CHW float32 tensor.
 */
import type { ModelManifest } from '../../core/manifest';
import { type RgbImage, resizeBicubicWindow } from './pil-resample';
import { Arena, kernels } from './simd';

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

/**
 * HWC uint8 -> CHW float32, normalised with the package's mean and std, written at `offset` of
 * `out`: float32 arithmetic, as numpy computes it in the kit. In WebAssembly when the kernels are
 * there (float32 division there, float64 then rounding here: the same numbers, since a float64
 * result rounded to float32 is the correctly rounded float32 one for + - / on float32 inputs).
 */
export function normalise(
  image: RgbImage,
  spec: ImageSpec,
  out?: Float32Array,
  offset = 0,
  implementation: 'simd' | 'scalar' = kernels ? 'simd' : 'scalar',
): Float32Array {
  const plane = image.width * image.height;
  const target = out ?? new Float32Array(plane * 3);
  if (implementation === 'simd' && kernels) {
    const arena = new Arena(kernels);
    const src = arena.take(plane * 3);
    const dst = arena.take(plane * 12);
    const heap = arena.heap();
    heap.set(image.data.subarray(0, plane * 3), src);
    const [m0, m1, m2] = spec.mean;
    const [s0, s1, s2] = spec.std;
    kernels.normalise(src, plane, m0, m1, m2, s0, s1, s2, dst);
    target.set(new Float32Array(heap.buffer, dst, plane * 3), offset);
    return target;
  }
  for (let c = 0; c < 3; c++) {
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

/** Interleaved RGB crops (`size x size x 3` bytes each) the model sees, as a batch stacks them. */
export type Crop = Uint8Array;

/** The preprocessed crop of an image (resize, centre crop; not yet normalised). */
export function crop(image: RgbImage, size: number): Crop {
  return resizeAndCrop(image, size).data;
}

/**
 * The crops of the cells of a rows x cols grid laid over the preprocessed crop, row-major; each
 * cell is resized to the model's size with the same bicubic filter.
 */
export function gridCrops(image: RgbImage, size: number, rows: number, cols: number): Crop[] {
  const whole = resizeAndCrop(image, size);
  const cells: Crop[] = [];
  for (let r = 0; r < rows; r++) {
    const top = Math.round((r * whole.height) / rows);
    const bottom = Math.round(((r + 1) * whole.height) / rows);
    for (let c = 0; c < cols; c++) {
      const left = Math.round((c * whole.width) / cols);
      const right = Math.round(((c + 1) * whole.width) / cols);
      const cell = new Uint8Array((right - left) * (bottom - top) * 3);
      for (let y = top; y < bottom; y++) {
        const from = (y * whole.width + left) * 3;
        cell.set(whole.data.subarray(from, from + (right - left) * 3), (y - top) * (right - left) * 3);
      }
      const cellImage = { width: right - left, height: bottom - top, data: cell };
      const window = { left: 0, top: 0, width: size, height: size };
      cells.push(resizeBicubicWindow(cellImage, size, size, window).data);
    }
  }
  return cells;
}

/**
 * A batch of crops -> the model's `[B, 3, size, size]` float32 input, written into `out` (which
 * must hold B * 3 * size * size values).
 */
export function normaliseBatch(
  crops: Uint8Array,
  batch: number,
  spec: ImageSpec,
  out: Float32Array,
): Float32Array {
  const plane = 3 * spec.size * spec.size;
  for (let i = 0; i < batch; i++) {
    const image = { width: spec.size, height: spec.size, data: crops.subarray(i * plane, (i + 1) * plane) };
    normalise(image, spec, out, i * plane);
  }
  return out;
}
