/**
 * The search kernel's face (src/edge/search/kernel/index.ts) loads in plain Node, where a .wasm
 * file cannot be imported as a module: bench:kernel builds and searches indexes there from the
 * committed kernel.wasm, read by path. (Vitest would load such an import, so Node runs it here.)
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
/** The repository's Node 22 (the `node` devDependency) that scripts run TypeScript with. */
const NODE = existsSync(join(ROOT, 'node_modules/.bin/node'))
  ? join(ROOT, 'node_modules/.bin/node')
  : process.execPath;

const SCRIPT = `
import { readFileSync } from 'node:fs';
import { buildKernelIndex } from './src/edge/search/kernel/index.ts';
const module = new WebAssembly.Module(readFileSync('src/edge/search/kernel/kernel.wasm'));
const index = buildKernelIndex(module, 3, [[1, 0, 0], [0, 1, 0], [0.6, 0.8, 0]]);
console.log(JSON.stringify(index.search(Float32Array.of(0, 1, 0), 2).map((hit) => hit.row)));
`;

it('the kernel face loads in Node and searches an index built from the committed kernel.wasm', () => {
  const out = execFileSync(
    NODE,
    [
      '--experimental-transform-types',
      '--disable-warning=ExperimentalWarning',
      '--import',
      './src/encoder/ts-hooks.mjs',
      '--input-type=module',
      '--eval',
      SCRIPT,
    ],
    { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' },
  );
  expect(JSON.parse(out)).toEqual([1, 2]);
}, 60_000);
