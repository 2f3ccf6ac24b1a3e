/**
 * Every committed WebAssembly module is what its AssemblyScript source compiles to (the package.json
 * build:* scripts), so a source edited without a rebuild fails here instead of testing stale code:
 * the encoder's pixel kernels, the edge search kernel and the wasm-peak benchmark's loops.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

const MODULES = [
  [
    'src/encoder/images/wasm/pixels.as.ts',
    'src/encoder/images/wasm/asconfig.json',
    'src/encoder/images/wasm/pixels.wasm',
  ],
  [
    'src/edge/search/kernel/kernel.as.ts',
    'src/edge/search/kernel/asconfig.json',
    'src/edge/search/kernel/kernel.wasm',
  ],
  [
    'scripts/bench/wasm-peak/peak.as.ts',
    'scripts/bench/wasm-peak/asconfig.json',
    'scripts/bench/wasm-peak/peak.wasm',
  ],
] as const;

describe('committed wasm modules', () => {
  it.each(MODULES)(
    '%s builds to the committed module',
    (source, config, committed) => {
      const dir = mkdtempSync(join(tmpdir(), 'koclip-wasm-'));
      try {
        const out = join(dir, 'out.wasm');
        execFileSync(
          process.execPath,
          [join(ROOT, 'node_modules/assemblyscript/bin/asc.js'), source, '--config', config, '-o', out],
          { cwd: ROOT, stdio: 'pipe' },
        );
        expect(readFileSync(out).equals(readFileSync(join(ROOT, committed)))).toBe(true);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
