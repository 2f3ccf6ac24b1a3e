import { describe, expect, it } from 'vitest';
import manifestJson from '../../models/koclip-tiny/manifest.json';
import tinyJson from '../../models/koclip-tiny/tokenizer.json';
import { parseManifest } from '../../src/core/manifest';
import { TextTokenizer } from '../../src/core/tokenizer';
import goldenBytes from '../fixtures/tokenizer/golden.jsonl.gz';
import wideBytes from '../fixtures/tokenizer/wide-tokenizer.json.gz';
import { differences, GOLDEN_SPEC, gunzipText, readGolden } from './support/tokenizer-golden';

// Inside workerd, the Worker's runtime: the table Python `tokenizers` wrote (scripts/model,
// `python -m koclip_kit tokenizer-golden`), every string, 0 differences.
const table = await readGolden(goldenBytes);
const manifest = parseManifest(manifestJson);

describe('golden tokenizer table (workerd)', () => {
  it('has at least 10,000 strings for koclip-tiny and the wide tokenizer', () => {
    expect(table.rows.length).toBe(table.header.strings);
    expect(table.rows.length).toBeGreaterThanOrEqual(10_000);
    expect(table.header.tokenizers.map((t) => [t.name, t.max_length])).toEqual([
      ['koclip-tiny', manifest.text.max_length],
      ['wide', 96],
    ]);
  });

  it('koclip-tiny: the ids of Python tokenizers for every string', () => {
    const tokenizer = new TextTokenizer(tinyJson, manifest.tokenizer, manifest.text.max_length);
    expect(differences(table, 0, (t) => tokenizer.encode(t).ids)).toEqual({ count: 0, first: [] });
  });

  it('wide (klue-sized WordPiece): the ids of Python tokenizers for every string', async () => {
    const tokenizer = new TextTokenizer(JSON.parse(await gunzipText(wideBytes)), GOLDEN_SPEC, 96);
    expect(differences(table, 1, (t) => tokenizer.encode(t).ids)).toEqual({ count: 0, first: [] });
    // Issue 23's probe: U+20000 (CJK Extension B) is a word of its own, as in Python
    // (고 ##양 ##이 𠀀 고 ##양 ##이); @huggingface/tokenizers alone gave one [UNK].
    expect(tokenizer.encode('고양이𠀀고양이').ids).toEqual([
      0, 831, 13474, 14440, 32419, 831, 13474, 14440, 2,
    ]);
  });
});
