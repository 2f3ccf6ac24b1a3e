/**
 * One image's bytes -> the model's input tensors (decode, orientation, flatten, resize, crop,
 * normalise). Runs inside the decode workers, or in-process when the pool has no workers.
 */
import { decodeImage } from './image-decode';
import { gridPixelValues, type ImageSpec, pixelValues } from './pixel-tensor';

export interface PrepareJob {
  bytes: Uint8Array;
  spec: ImageSpec;
  maxPixels: number;
  grid?: { rows: number; cols: number };
}

export interface PreparedImage {
  /** One `[3, size, size]` tensor, or one per grid cell (row-major). */
  tensors: Float32Array[];
  width: number;
  height: number;
  /** Decode + preprocessing time in seconds. */
  seconds: number;
}

export async function prepareImage(job: PrepareJob): Promise<PreparedImage> {
  const started = performance.now();
  const image = await decodeImage(job.bytes, { pixels: job.maxPixels });
  const tensors = job.grid
    ? gridPixelValues(image, job.spec, job.grid.rows, job.grid.cols)
    : [pixelValues(image, job.spec)];
  return { tensors, width: image.width, height: image.height, seconds: (performance.now() - started) / 1000 };
}
