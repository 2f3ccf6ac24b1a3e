/**
 * Loads onnxruntime-web inside workerd. Workers forbid compiling wasm from bytes and have no
 * `import.meta.url`, so ORT's own loader fails. Instead the wasm arrives precompiled as a
 * `CompiledWasm` module (a relative import: wrangler's module rules do not resolve package
 * paths), ORT is given a placeholder `wasmBinary` (which stops its URL lookup) and
 * `WebAssembly.instantiate` is wrapped so that the call with that placeholder instantiates the
 * precompiled module. One thread: Workers have no threads.
 */
import * as ort from 'onnxruntime-web/wasm';
import ortWasmModule from '../../../node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm';

const PLACEHOLDER = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

let memory: WebAssembly.Memory | undefined;

/** ORT may hand on a copy of wasmBinary, so the placeholder is recognised by its bytes. */
function isPlaceholder(source: unknown): boolean {
  if (!ArrayBuffer.isView(source) && !(source instanceof ArrayBuffer)) return false;
  const bytes = ArrayBuffer.isView(source)
    ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
    : new Uint8Array(source);
  return bytes.length === PLACEHOLDER.length && bytes.every((b, i) => b === PLACEHOLDER[i]);
}
let installed = false;

function findMemory(instance: WebAssembly.Instance, imports: WebAssembly.Imports | undefined) {
  for (const value of Object.values(instance.exports)) {
    if (value instanceof WebAssembly.Memory) return value;
  }
  for (const namespace of Object.values(imports ?? {})) {
    for (const value of Object.values(namespace)) {
      if (value instanceof WebAssembly.Memory) return value;
    }
  }
  return undefined;
}

function install(): void {
  if (installed) return;
  installed = true;
  const original = WebAssembly.instantiate.bind(WebAssembly);
  const wrapped = async (source: unknown, imports?: WebAssembly.Imports): Promise<unknown> => {
    if (!isPlaceholder(source))
      return (original as (s: unknown, i?: WebAssembly.Imports) => unknown)(source, imports);
    const instance = await original(ortWasmModule, imports);
    memory = findMemory(instance, imports);
    return { instance, module: ortWasmModule };
  };
  WebAssembly.instantiate = wrapped as typeof WebAssembly.instantiate;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmBinary = PLACEHOLDER;
  ort.env.logLevel = 'error';
}

/** onnxruntime-web, configured for workerd. */
export function loadOrt(): typeof ort {
  install();
  return ort;
}

/** Bytes of ORT's wasm linear memory (0 before the first session exists). */
export function wasmMemoryBytes(): number {
  return memory?.buffer.byteLength ?? 0;
}
