/**
 * Synthetic index vectors for the shard benchmark (scripts/bench/shards.ts) and its debug routes
 * (./shards.ts): unit vectors around CENTRES cluster centres, so a query has a meaningful top-k
 * (its cluster's nearest members) rather than the near-ties of uniform noise. Vector `i` of a
 * data set depends only on (seed, i, dim): the Worker generates and writes vectors in any order
 * or chunking, and Node regenerates the same Float32 values to compute the exact top-k.
 * Only IEEE-exact operations (+, *, sqrt) and 32-bit integer mixing: the same bits in every
 * JavaScript engine.
 */
import { mulberry32 } from '../../core/random';

/** Cluster centres of a data set. */
export const CENTRES = 64;

/** Noise added to a centre, as a share of the centre's length (before normalisation). */
const NOISE = 0.9;

/** A 32-bit mix of two integers (murmur3's finaliser over a combination). */
function mix(a: number, b: number): number {
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Uniform numbers in [0, 1) from a 32-bit state. */
const uniforms = mulberry32;

function normalise(v: Float64Array, out: Float32Array): Float32Array {
  let norm = 0;
  for (let d = 0; d < v.length; d++) norm += (v[d] as number) * (v[d] as number);
  const inv = 1 / Math.sqrt(norm);
  for (let d = 0; d < v.length; d++) out[d] = (v[d] as number) * inv;
  return out;
}

const centreCache = new Map<string, Float64Array[]>();

/** The unit cluster centres of data set `seed` at `dim` (uniform in the cube, normalised). */
function centres(seed: number, dim: number): Float64Array[] {
  const key = `${seed}:${dim}`;
  let cached = centreCache.get(key);
  if (!cached) {
    cached = [];
    for (let c = 0; c < CENTRES; c++) {
      const next = uniforms(mix(seed, 0x40000000 + c));
      const v = new Float64Array(dim);
      for (let d = 0; d < dim; d++) v[d] = next() * 2 - 1;
      const unit = normalise(v, new Float32Array(dim));
      cached.push(Float64Array.from(unit));
    }
    if (centreCache.size > 16) centreCache.clear();
    centreCache.set(key, cached);
  }
  return cached;
}

// Uniform noise in [-a, a] has variance a^2 / 3: a = NOISE * sqrt(3 / dim) gives noise of length
// about NOISE beside a unit centre.
function point(seed: number, stream: number, i: number, dim: number, out: Float32Array): Float32Array {
  const next = uniforms(mix(mix(seed, stream), i));
  const centre = centres(seed, dim)[Math.floor(next() * CENTRES)] as Float64Array;
  const a = NOISE * Math.sqrt(3 / dim);
  const v = new Float64Array(dim);
  for (let d = 0; d < dim; d++) v[d] = (centre[d] as number) + (next() * 2 - 1) * a;
  return normalise(v, out);
}

/** Vector `i` of data set `seed`: a unit Float32 vector of `dim`. */
export function syntheticVector(
  seed: number,
  i: number,
  dim: number,
  out = new Float32Array(dim),
): Float32Array {
  return point(seed, 1, i, dim, out);
}

/**
 * Query `j` of data set `seed`, drawn with `querySeed`: from the same distribution (around the
 * same centres) as the data set's vectors, but none of them.
 */
export function syntheticQuery(seed: number, querySeed: number, j: number, dim: number): Float32Array {
  return point(seed, mix(2, querySeed), j, dim, new Float32Array(dim));
}

/** The small metadata every synthetic vector carries: one of eight colours. */
export const COLOURS = ['red', 'orange', 'yellow', 'green', 'blue', 'indigo', 'violet', 'grey'] as const;

export const syntheticColour = (i: number) => COLOURS[i % COLOURS.length] as string;

/** The id of vector `i` (zero-padded, so ids sort like their numbers). */
export const syntheticId = (i: number) => `v${String(i).padStart(8, '0')}`;

/** A running exact top-k of one query: ids and scores, highest first (ties: lower index first). */
export class ExactTopK {
  readonly scores: number[] = [];
  readonly indexes: number[] = [];
  constructor(readonly k: number) {}

  offer(score: number, index: number): void {
    const n = this.scores.length;
    if (n === this.k && score <= (this.scores[n - 1] as number)) return;
    let at = n;
    while (at > 0 && (this.scores[at - 1] as number) < score) at--;
    this.scores.splice(at, 0, score);
    this.indexes.splice(at, 0, index);
    if (this.scores.length > this.k) {
      this.scores.pop();
      this.indexes.pop();
    }
  }
}
