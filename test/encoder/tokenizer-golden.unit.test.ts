import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TextTokenizer } from '../../src/core/tokenizer';
import { loadModelPackage } from '../../src/encoder/inference/model-package';
import { type OnnxRuntime, OnnxSession } from '../../src/encoder/inference/runtime';
import { differences, GOLDEN_SPEC, gunzipText, readGolden } from '../core/support/tokenizer-golden';

// On Node, as the encoder tokenises: the package loader's tokenizer (verified tokenizer.json,
// manifest ids and max_length) against the table Python `tokenizers` wrote, every string.
const fixture = (name: string) => readFileSync(new URL(`../fixtures/tokenizer/${name}`, import.meta.url));
const table = await readGolden(fixture('golden.jsonl.gz'));

// The towers are not run here: a runtime that hands back sessions with the image tower's I/O types.
const noRuntime = {
  info: { requested: 'cpu', active: 'cpu' },
  load: async () =>
    new OnnxSession([], ['pixel_values'], { pixel_values: 'float32', image_embeds: 'float32' }),
} as unknown as OnnxRuntime;

describe('golden tokenizer table (Node, the encoder)', () => {
  it('koclip-tiny as loadModelPackage builds it: the ids of Python tokenizers for every string', async () => {
    const model = await loadModelPackage(
      fileURLToPath(new URL('../../models/koclip-tiny', import.meta.url)),
      noRuntime,
    );
    expect(table.rows.length).toBeGreaterThanOrEqual(10_000);
    expect(differences(table, 0, (t) => model.tokenizer.encode(t).ids)).toEqual({ count: 0, first: [] });
  });

  it('wide (klue-sized WordPiece): the ids of Python tokenizers for every string', async () => {
    const tokenizer = new TextTokenizer(
      JSON.parse(await gunzipText(fixture('wide-tokenizer.json.gz'))),
      GOLDEN_SPEC,
      96,
    );
    expect(differences(table, 1, (t) => tokenizer.encode(t).ids)).toEqual({ count: 0, first: [] });
  });
});
