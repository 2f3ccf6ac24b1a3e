/**
 * An edge package whose int8 text tower keeps its weights as ONNX external data (how `distill`
 * and `convert --placement edge` ship them), end to end: `model:publish --local` puts the graph
 * and its data file into the Worker's local R2, the Worker (workerd) loads both into
 * onnxruntime-web, and the encoder process loads the same package folder into onnxruntime-node.
 * The package is koclip-tiny with its tower split by the kit, so both must give its goldens.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ROOT,
  STACK_ENCODER,
  STACK_SECRETS,
  STACK_VARS,
  type Stack,
  startStack,
} from '../../scripts/stack/index';
import { cosine } from '../../src/core/vector';
import { tinyWithExternalData } from '../model/support/external-data';

const MODEL = 'koclip-tiny-ext';
const golden = JSON.parse(readFileSync(join(ROOT, 'models/koclip-tiny/golden/text.json'), 'utf8')) as {
  cases: { text: string; embedding: number[] }[];
};
const texts = golden.cases.map((c) => c.text);

const tmp = mkdtempSync(join(tmpdir(), 'e2e-external-data-'));
const persist = join(tmp, 'state');
let stack: Stack | undefined;

beforeAll(async () => {
  mkdirSync(join(tmp, 'models'));
  const pkg = tinyWithExternalData(join(tmp, 'models', MODEL), MODEL);
  const publish = spawnSync(
    process.execPath,
    ['scripts/model/publish.mjs', pkg, '--local', '--persist-to', persist],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (publish.status !== 0) throw new Error(`model:publish failed:\n${publish.stdout}\n${publish.stderr}`);
  // The data file goes up with its graph (and before the manifest).
  if (!publish.stdout.includes(`models/${MODEL}/${version(pkg)}/text-int8.onnx.data`))
    throw new Error(`model:publish did not upload the external data file:
${publish.stdout}`);
  stack = await startStack({
    encoder: {
      ...STACK_ENCODER,
      env: { ENCODER_MODELS_DIR: join(tmp, 'models'), ENCODER_MODELS: MODEL, ENCODER_DEFAULT_MODEL: MODEL },
    },
    worker: { persist, vars: STACK_VARS },
  });
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function version(pkg: string): string {
  return (JSON.parse(readFileSync(join(pkg, 'manifest.json'), 'utf8')) as { version: string }).version;
}

describe('an edge text tower with external data', () => {
  it('is served at the edge from R2: graph and data file, the goldens reproduced', async () => {
    const models = await fetch(`${stack?.url}/v1/models/${MODEL}`);
    const manifest = (await models.json()) as { text: { placement: string } };
    expect(models.status, JSON.stringify(manifest)).toBe(200);
    expect(manifest.text.placement).toBe('edge');
    const response = await fetch(`${stack?.url}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, input: texts }),
    });
    const body = (await response.json()) as { data: { index: number; embedding: number[] }[] };
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.data).toHaveLength(texts.length);
    for (const item of body.data) {
      expect(cosine(item.embedding, golden.cases[item.index]?.embedding ?? [])).toBeGreaterThanOrEqual(0.999);
    }
  });

  it('is loaded by the encoder from the package folder, the goldens reproduced', async () => {
    const response = await fetch(`${stack?.encoder.url}/v1/embed/text?model=${MODEL}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${STACK_SECRETS.ENCODER_TOKEN}`,
      },
      body: JSON.stringify({ texts }),
    });
    const body = (await response.json()) as { data: { index: number; embedding: number[] }[] };
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.data).toHaveLength(texts.length);
    for (const item of body.data) {
      expect(cosine(item.embedding, golden.cases[item.index]?.embedding ?? [])).toBeGreaterThanOrEqual(0.999);
    }
  });
});
