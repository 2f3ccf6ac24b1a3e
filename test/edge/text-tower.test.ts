import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import goldenText from '../../models/koclip-tiny/golden/text.json';
import { embedTexts, textTowerStats } from '../../src/edge/text-tower';

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += (a[i] ?? 0) * (b[i] ?? 0);
    na += (a[i] ?? 0) ** 2;
    nb += (b[i] ?? 0) ** 2;
  }
  return dot / Math.sqrt(na * nb);
}

describe('text tower (int8, bundled)', () => {
  it('reproduces the golden text embeddings with cosine >= 0.999', async () => {
    const texts = goldenText.cases.map((c) => c.text);
    const result = await embedTexts(env, 'koclip-tiny', texts);
    expect(result.embeddings).toHaveLength(texts.length);
    goldenText.cases.forEach((c, i) => {
      expect(cosine(result.embeddings[i] as Float32Array, c.embedding)).toBeGreaterThanOrEqual(0.999);
    });
    expect(textTowerStats().wasmMemoryBytes).toBeGreaterThan(0);
  });
});
