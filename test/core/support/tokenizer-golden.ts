// The golden tokenizer table (test/fixtures/tokenizer, written by `python -m koclip_kit
// tokenizer-golden` from Python `tokenizers`): read in workerd and on Node alike.
import type { TokenizerSpec } from '../../../src/core/tokenizer';

export interface GoldenHeader {
  format: string;
  strings: number;
  tokenizers: { name: string; file: string; max_length: number }[];
}

export interface GoldenTable {
  header: GoldenHeader;
  /** [text, ids for tokenizer 0, ids for tokenizer 1] */
  rows: [string, ...number[][]][];
}

/** KoCLIP's (and klue's) special ids, which both golden tokenizers share. */
export const GOLDEN_SPEC: TokenizerSpec = {
  cls_token_id: 0,
  pad_token_id: 1,
  sep_token_id: 2,
  unk_token_id: 3,
};

export async function gunzipText(bytes: ArrayBuffer | Uint8Array): Promise<string> {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Response(stream).text();
}

export async function readGolden(bytes: ArrayBuffer | Uint8Array): Promise<GoldenTable> {
  const [head, ...lines] = (await gunzipText(bytes)).trimEnd().split('\n');
  return { header: JSON.parse(head as string), rows: lines.map((l) => JSON.parse(l)) };
}

/** The rows whose ids differ from `encode`'s (text and both id lists), at most `limit` of them. */
export function differences(
  table: GoldenTable,
  column: number,
  encode: (text: string) => number[],
  limit = 5,
): { count: number; first: { text: string; expected: number[]; got: number[] }[] } {
  const first: { text: string; expected: number[]; got: number[] }[] = [];
  let count = 0;
  for (const [text, ...ids] of table.rows) {
    const expected = ids[column] as number[];
    const got = encode(text);
    if (got.length === expected.length && got.every((id, i) => id === expected[i])) continue;
    count += 1;
    if (first.length < limit) first.push({ text, expected, got });
  }
  return { count, first };
}
