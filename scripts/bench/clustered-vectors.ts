/**
 * The clustered random unit vectors of test/core/support/random-vectors.ts (`randomUnitVectors`,
 * the ones bench:search uses), generated one at a time so a Worker can build a 100k x 512 index
 * without holding 200 MB of float32 vectors. Same seed, same numbers.
 */
import { gaussian, rng } from '../../test/core/support/random-vectors';

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
