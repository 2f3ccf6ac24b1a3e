import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/core/manifest';

// The model kit runs as `python -m koclip_kit` from its virtual environment (Debian's Python and
// packages; scripts/setup.sh creates it, see docs/model-kit.md).
const ROOT = join(import.meta.dirname, '..', '..');
const PY = join(ROOT, 'scripts', 'model', '.venv', 'bin', 'python');
const work = mkdtempSync(join(tmpdir(), 'kit-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function kit(...args: string[]) {
  return spawnSync(PY, ['-m', 'koclip_kit', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
}

describe('model kit command line', () => {
  beforeAll(() => {
    expect(existsSync(PY), `${PY} is missing: run ./scripts/setup.sh`).toBe(true);
    expect(kit('tokenizer', '--out', join(work, 'tok'), '--corpus-size', '500').status).toBe(0);
  });

  it.each([
    [
      ['train', '--tokenizer', join(work, 'missing'), '--out', join(work, 'a'), '--steps', '3'],
      'no tokenizer.json',
    ],
    [['train', '--tokenizer', join(work, 'tok'), '--out', join(work, 'a'), '--steps', '-4'], 'positive int'],
    [
      ['train', '--tokenizer', join(work, 'tok'), '--out', join(work, 'a'), '--steps', '2', '--minutes', '1'],
      'not allowed',
    ],
    [
      [
        'train',
        '--tokenizer',
        join(work, 'tok'),
        '--out',
        join(work, 'a'),
        '--steps',
        '2',
        '--device',
        'tpu',
      ],
      'invalid choice',
    ],
    [
      [
        'export',
        '--checkpoint',
        join(work, 'none.pt'),
        '--tokenizer',
        join(work, 'tok'),
        '--out',
        join(work, 'a'),
      ],
      'no such file',
    ],
    [['tokenizer', '--out', join(work, 'a'), '--max-length', 'many'], 'positive int'],
    [['frobnicate'], 'invalid choice'],
  ])('rejects %j with a clear message and writes nothing', (args, message) => {
    const res = kit(...args);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain(message);
    expect(existsSync(join(work, 'a'))).toBe(false);
  });

  it('rejects an invalid model id before exporting anything', () => {
    const res = kit(
      'export',
      '--checkpoint',
      join(ROOT, 'package.json'),
      '--tokenizer',
      join(work, 'none'),
      '--out',
      join(work, 'b'),
      '--id',
      'Bad Id',
    );
    expect(res.status).toBe(2);
    expect(existsSync(join(work, 'b'))).toBe(false);
  });
});

describe('model kit smoke run (tokenizer, 3 training steps, export, evaluation)', () => {
  it('writes a complete package that parses, with evaluation numbers and passing parity', () => {
    const out = join(work, 'smoke-pkg');
    const res = spawnSync('bash', ['scripts/model/build.sh', '--smoke', out], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 240_000,
    });
    expect(res.status, res.stderr).toBe(0);
    const manifest = parseManifest(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')));
    expect(manifest.id).toBe('koclip-smoke');
    const evaluation = manifest.evaluation as Record<string, Record<string, number>>;
    expect(evaluation.parity?.text_fp32_min_cosine).toBeGreaterThanOrEqual(0.9999);
    expect(evaluation.parity?.text_int8_min_cosine).toBeGreaterThanOrEqual(0.99);
    expect(evaluation.onnx_int8?.gallery_images).toBe(240);
    expect(Object.keys(manifest.files)).toContain('text-int8.onnx');
    // no temporary folders left beside the package
    expect(readdirSync(work).filter((n) => n.includes('.tmp-'))).toEqual([]);
  }, 300_000);
});
