/**
 * One image's bytes -> the crops the model sees (decode, orientation, flatten, resize, crop) and
 * the bytes' sha256. Runs inside the decode workers, or in-process when the pool has no workers;
 * the crops are normalised into the model's input on the onnxruntime thread, a batch at a time.
 */
import { createHash } from 'node:crypto';
import { decodeImage } from './image-decode';
import { type Crop, crop, gridCrops } from './pixel-tensor';

export interface PrepareJob {
  bytes: Uint8Array;
  /** The model's input size (the crop's side). */
  size: number;
  maxPixels: number;
  grid?: { rows: number; cols: number };
}

export interface PreparedImage {
  /** One crop, or one per grid cell (row-major). */
  crops: Crop[];
  sha256: string;
  width: number;
  height: number;
  /** Decode + preprocessing time in seconds. */
  seconds: number;
}

export async function prepareImage(job: PrepareJob): Promise<PreparedImage> {
  const started = performance.now();
  const image = await decodeImage(job.bytes, { pixels: job.maxPixels });
  const crops = job.grid ? gridCrops(image, job.size, job.grid.rows, job.grid.cols) : [crop(image, job.size)];
  const sha256 = createHash('sha256').update(job.bytes).digest('hex');
  const seconds = (performance.now() - started) / 1000;
  return { crops, sha256, width: image.width, height: image.height, seconds };
}
