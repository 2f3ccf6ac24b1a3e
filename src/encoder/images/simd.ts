/**
 * The encoder's WebAssembly SIMD pixel kernels (wasm/pixels.as.ts, built into wasm/pixels.wasm by
 * `npm run build:wasm`), one instance per thread, and a bump allocator over its memory. Each
 * caller lays its buffers out from the start again: the kernels run synchronously, so nothing
 * in the memory outlives one call.
 */
import { readFileSync } from 'node:fs';

export interface PixelKernels {
  memory: WebAssembly.Memory;
  horizontal(
    src: number,
    srcStride: number,
    rows: number,
    outWidth: number,
    bounds: number,
    weights: number,
    ksize: number,
    dst: number,
  ): void;
  vertical(
    src: number,
    stride: number,
    outHeight: number,
    bounds: number,
    weights: number,
    ksize: number,
    dst: number,
  ): void;
  normalise(
    src: number,
    pixels: number,
    mean0: number,
    mean1: number,
    mean2: number,
    std0: number,
    std1: number,
    std2: number,
    dst: number,
  ): void;
}

function load(): PixelKernels | undefined {
  try {
    const bytes = readFileSync(new URL('./wasm/pixels.wasm', import.meta.url));
    // (the Workers type definitions in this project declare Module abstract; Node's is not)
    const module = new (WebAssembly.Module as unknown as new (b: Uint8Array) => WebAssembly.Module)(bytes);
    return new WebAssembly.Instance(module, {}).exports as unknown as PixelKernels;
  } catch {
    return undefined;
  }
}

/** The kernels, or undefined where WebAssembly SIMD is unavailable (the scalar code runs then). */
export const kernels = load();

/** Bytes a kernel may read or write past the end of a buffer. */
const SLACK = 16;
/** Buffers start after the module's first page (left to the module itself). */
const BASE = 65536;

/** Lays out buffers in the kernels' memory for one call. */
export class Arena {
  #k: PixelKernels;
  #at = BASE;

  constructor(k: PixelKernels) {
    this.#k = k;
  }

  /** Reserves `bytes` (plus the kernels' slack), 16-byte aligned; returns the address. */
  take(bytes: number): number {
    const start = this.#at;
    this.#at += Math.ceil((bytes + SLACK) / 16) * 16;
    return start;
  }

  /** Grows the memory to hold everything taken; returns a byte view of it. */
  heap(): Uint8Array {
    const have = this.#k.memory.buffer.byteLength;
    if (this.#at > have) this.#k.memory.grow(Math.ceil((this.#at - have) / 65536));
    return new Uint8Array(this.#k.memory.buffer);
  }

  /** Copies an int32 array to `address`. */
  putInt32(heap: Uint8Array, address: number, array: Int32Array): void {
    heap.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), address);
  }
}
