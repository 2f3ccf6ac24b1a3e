/**
 * koclip-tiny as an edge package that ships its int8 text tower the way `distill` and `convert
 * --placement edge` do: the graph in text-int8.onnx, its weights in text-int8.onnx.data (ONNX
 * external data). The split is the kit's own (onnx_export.write_external_data, run in the kit's
 * venv); the manifest gets the two files' sha256 and `text.external_data`. The weights are the
 * same bytes, so the tower must reproduce koclip-tiny's golden embeddings.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const TINY = join(ROOT, 'models', 'koclip-tiny');
const PYTHON = join(ROOT, 'scripts', 'model', '.venv', 'bin', 'python');

function fileEntry(path: string): { sha256: string; bytes: number } {
  return {
    sha256: createHash('sha256').update(readFileSync(path)).digest('hex'),
    bytes: statSync(path).size,
  };
}

/** Writes the package to `dir` (which must not exist) under model id `id`; returns `dir`. */
export function tinyWithExternalData(dir: string, id: string): string {
  if (!existsSync(PYTHON)) throw new Error('the model kit venv is missing: run ./scripts/setup.sh');
  cpSync(TINY, dir, { recursive: true, filter: (src) => !src.startsWith(join(TINY, 'demo')) });
  const split = spawnSync(
    PYTHON,
    [
      '-c',
      'import sys; from koclip_kit.onnx_export import write_external_data; print(write_external_data(sys.argv[1]))',
      join(dir, 'text-int8.onnx'),
    ],
    { cwd: join(ROOT, 'scripts', 'model'), encoding: 'utf8' },
  );
  if (split.status !== 0) throw new Error(`write_external_data failed: ${split.stderr}`);
  const data = split.stdout.trim();
  const manifestPath = join(dir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  manifest.id = id;
  delete manifest.demo;
  for (const rel of Object.keys(manifest.files)) if (rel.startsWith('demo/')) delete manifest.files[rel];
  manifest.text.external_data = { int8: data };
  for (const rel of ['text-int8.onnx', data]) manifest.files[rel] = fileEntry(join(dir, rel));
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return dir;
}

/**
 * A folder of two packages for a stack that serves both (a collection migration): koclip-tiny
 * and, under `second`, the same weights as an external-data package (another id, other tower
 * files), the second published to the Worker's local R2 under `persist`. Returns the folder, for
 * the encoder's ENCODER_MODELS_DIR.
 */
export function twoPackages(dir: string, second: string, persist: string): string {
  mkdirSync(dir, { recursive: true });
  cpSync(TINY, join(dir, 'koclip-tiny'), { recursive: true });
  const pkg = tinyWithExternalData(join(dir, second), second);
  const publish = spawnSync(
    process.execPath,
    ['scripts/model/publish.mjs', pkg, '--local', '--persist-to', persist],
    {
      cwd: ROOT,
      encoding: 'utf8',
      // wrangler's shebang asks PATH for `node`: this one (22), not whatever a shell has first.
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` },
    },
  );
  if (publish.status !== 0) throw new Error(`model:publish failed:\n${publish.stdout}\n${publish.stderr}`);
  return dir;
}
