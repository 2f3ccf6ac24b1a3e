import { mulberry32 } from '../../../src/core/random';
/** Deterministic random unit vectors for tests (mulberry32 + Box-Muller). */
export const rng = mulberry32;

export function gaussian(next: () => number): number {
  const u = Math.max(next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
}

/**
 * Unit vectors of `dim` components, one at a time (a Worker can build a 100k x 512 index without
 * holding all of them); `clusters` > 0 draws them around that many centres.
 */
export function* clusteredVectors(
  n: number,
  dim: number,
  seed: number,
  clusters = 0,
): Generator<Float32Array> {
  const next = rng(seed);
  const centres = Array.from({ length: clusters }, () => Array.from({ length: dim }, () => gaussian(next)));
  for (let i = 0; i < n; i++) {
    const centre = centres[i % Math.max(clusters, 1)];
    const v = new Float32Array(dim);
    let s = 0;
    for (let j = 0; j < dim; j++) {
      v[j] = (centre ? (centre[j] as number) : 0) + gaussian(next) * (centre ? 0.6 : 1);
      s += (v[j] as number) ** 2;
    }
    const norm = Math.sqrt(s);
    for (let j = 0; j < dim; j++) v[j] = (v[j] as number) / norm;
    yield v;
  }
}

/** `n` unit vectors of `dim` components at once (the same numbers as `clusteredVectors`). */
export function randomUnitVectors(n: number, dim: number, seed: number, clusters = 0): Float32Array[] {
  return [...clusteredVectors(n, dim, seed, clusters)];
}
