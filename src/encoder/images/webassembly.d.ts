/**
 * The part of the WebAssembly JS API the pixel kernels use (simd.ts). WebAssembly is V8's, not
 * Node's, so @types/node does not declare it, and the encoder's type check loads no DOM or
 * Workers types (src/encoder/tsconfig.json).
 */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
}
