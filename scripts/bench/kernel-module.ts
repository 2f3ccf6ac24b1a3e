/** The search kernel's wasm module compiled from the committed file, for Node scripts. */
import { readFileSync } from 'node:fs';

export function loadKernelModule(): WebAssembly.Module {
  const bytes = readFileSync(new URL('../../src/edge/search/kernel/kernel.wasm', import.meta.url));
  // (the Workers type definitions in this project declare Module abstract; Node's is not)
  return new (WebAssembly.Module as unknown as new (b: Uint8Array) => WebAssembly.Module)(bytes);
}
