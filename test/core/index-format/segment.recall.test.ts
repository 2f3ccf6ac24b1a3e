import { describe, expect, it } from 'vitest';
import { decodeSegment, encodeSegment, scoreRow } from '../../../src/core/index-format/segment';
import { dot, TopK } from '../../../src/core/vector';
import { randomUnitVectors } from '../support/random-vectors';

/** Mean recall@10 of quantised exact search against fp32 exact search, over `queries`. */
async function recallAt10(encoding: 'int8' | 'fp16', clusters: number): Promise<number> {
  const dim = 256;
  const base = randomUnitVectors(5000, dim, 21, clusters);
  const queries = randomUnitVectors(100, dim, 22, clusters);
  const seg = await decodeSegment(
    await encodeSegment({
      model: 'm',
      version: '1',
      dim,
      encoding,
      items: base.map((vector, i) => ({ id: `${i}`, vector })),
    }),
  );
  let hits = 0;
  for (const q of queries) {
    const exact = new TopK(10);
    const approx = new TopK(10);
    base.forEach((v, i) => {
      exact.push(i, dot(q, v));
      approx.push(i, scoreRow(seg, q, i));
    });
    const truth = new Set(exact.sorted().map((r) => r.index));
    hits += approx.sorted().filter((r) => truth.has(r.index)).length;
  }
  return hits / (queries.length * 10);
}

// fp16 (the index default) must reach the issue's bar of 0.99; int8 halves the memory and is kept
// as an option, with its measured recall pinned a little lower (0.990 isotropic, 0.986 clustered).
const BAR = { fp16: 0.99, int8: 0.98 } as const;

describe('recall@10 of quantised segments against fp32 exact search (5000 x 256, 100 queries)', () => {
  for (const encoding of ['fp16', 'int8'] as const) {
    for (const clusters of [0, 20]) {
      it(`${encoding}, ${clusters ? `${clusters} clusters` : 'isotropic'}: >= ${BAR[encoding]}`, async () => {
        const recall = await recallAt10(encoding, clusters);
        expect(recall).toBeGreaterThanOrEqual(BAR[encoding]);
      });
    }
  }
});
