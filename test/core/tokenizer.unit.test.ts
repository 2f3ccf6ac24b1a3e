import { describe, expect, it } from 'vitest';
import goldenTokens from '../../models/koclip-tiny/golden/tokens.json';
import manifestJson from '../../models/koclip-tiny/manifest.json';
import tokenizerJson from '../../models/koclip-tiny/tokenizer.json';
import { parseManifest } from '../../src/core/manifest';
import { padBatch, TextTokenizer } from '../../src/core/tokenizer';

// Golden ids were written by the model kit (scripts/model) at export time; see golden/tokens.json.
const manifest = parseManifest(manifestJson);
const tokenizer = new TextTokenizer(tokenizerJson, manifest.tokenizer, manifest.text.max_length);

describe('TextTokenizer (koclip-tiny)', () => {
  it.each(goldenTokens.cases.map((c) => [JSON.stringify(c.text).slice(0, 60), c] as const))(
    'reproduces the golden ids of %s',
    (_, c) => {
      expect(tokenizer.encode(c.text).ids).toEqual(c.input_ids);
    },
  );

  it('covers the golden max length and a case that needs truncation', () => {
    expect(goldenTokens.max_length).toBe(manifest.text.max_length);
    expect(goldenTokens.cases.some((c) => c.input_ids.length === manifest.text.max_length)).toBe(true);
  });

  it('flags truncation only when tokens were cut', () => {
    const long = tokenizer.encode('큰 빨간 원 두 개 '.repeat(40));
    expect(long.truncated).toBe(true);
    expect(long.ids).toHaveLength(manifest.text.max_length);
    expect(long.ids.at(-1)).toBe(manifest.tokenizer.sep_token_id);
    const short = tokenizer.encode('빨간 원');
    expect(short.truncated).toBe(false);
    expect(short.ids[0]).toBe(manifest.tokenizer.cls_token_id);
  });

  it('encodes empty text as [CLS] [SEP]', () => {
    expect(tokenizer.encode('')).toEqual({
      ids: [manifest.tokenizer.cls_token_id, manifest.tokenizer.sep_token_id],
      truncated: false,
    });
  });

  it('rejects a manifest whose special ids disagree with tokenizer.json', () => {
    const wrong = { ...manifest.tokenizer, cls_token_id: 7 };
    expect(() => new TextTokenizer(tokenizerJson, wrong, 64)).toThrow(/CLS/);
    expect(() => new TextTokenizer({}, manifest.tokenizer, 64)).toThrow(/no model/);
    expect(() => new TextTokenizer(tokenizerJson, manifest.tokenizer, 1)).toThrow(/max length/);
  });
});

describe('padBatch', () => {
  it('pads to the longest row with the pad id and mask 0', () => {
    const batch = padBatch(
      [
        [0, 5, 2],
        [0, 2],
      ],
      1,
    );
    expect(batch).toMatchObject({ batch: 2, length: 3 });
    expect([...batch.inputIds]).toEqual([0n, 5n, 2n, 0n, 2n, 1n]);
    expect([...batch.attentionMask]).toEqual([1n, 1n, 1n, 1n, 1n, 0n]);
  });
});
