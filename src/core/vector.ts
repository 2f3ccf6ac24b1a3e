/**
 * Vector math shared by the Worker and the encoder: dot products, normalisation, top-k selection,
 * softmax, and the int8 / fp16 quantisation used by index segments. Runtime-free.
 */

export type VectorLike = ArrayLike<number>;

/** Dot product of two equally long vectors. */
export function dot(a: VectorLike, b: VectorLike): number {
  if (a.length !== b.length) throw new RangeError(`dot: length ${a.length} != ${b.length}`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] as number) * (b[i] as number);
  return sum;
}

/** Euclidean norm. */
export function norm(a: VectorLike): number {
  return Math.sqrt(dot(a, a));
}

/** A unit-length copy of `a` (a zero vector stays zero). */
export function normalise(a: VectorLike): Float32Array {
  const n = norm(a);
  const out = new Float32Array(a.length);
  if (n === 0 || !Number.isFinite(n)) return out;
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) / n;
  return out;
}

/** Cosine similarity (0 when either vector is zero). */
export function cosine(a: VectorLike, b: VectorLike): number {
  const d = norm(a) * norm(b);
  return d === 0 ? 0 : dot(a, b) / d;
}

/** Numerically stable softmax. */
export function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  const exps = logits.map((x) => Math.exp(x - max));
  const total = exps.reduce((s, x) => s + x, 0);
  return exps.map((x) => x / total);
}

export interface Scored {
  index: number;
  score: number;
}

/**
 * Keeps the `k` highest scores pushed into it (a bounded min-heap), so a scan over N items costs
 * O(N log k). Ties keep the earlier index, which makes results deterministic.
 */
export class TopK {
  private readonly scores: Float64Array;
  private readonly indices: Int32Array;
  private size = 0;

  constructor(readonly k: number) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`TopK: k must be a positive integer, got ${k}`);
    this.scores = new Float64Array(k);
    this.indices = new Int32Array(k);
  }

  /** The score an item must beat to enter (−Infinity until the heap is full). */
  get threshold(): number {
    return this.size < this.k ? Number.NEGATIVE_INFINITY : (this.scores[0] as number);
  }

  push(index: number, score: number): void {
    if (this.size < this.k) {
      let i = this.size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.less(score, index, this.scores[parent] as number, this.indices[parent] as number)) break;
        this.scores[i] = this.scores[parent] as number;
        this.indices[i] = this.indices[parent] as number;
        i = parent;
      }
      this.scores[i] = score;
      this.indices[i] = index;
      return;
    }
    if (!this.less(this.scores[0] as number, this.indices[0] as number, score, index)) return;
    this.siftDown(score, index);
  }

  /** Results, best first. */
  sorted(): Scored[] {
    const out: Scored[] = [];
    for (let i = 0; i < this.size; i++)
      out.push({ index: this.indices[i] as number, score: this.scores[i] as number });
    return out.sort((a, b) => b.score - a.score || a.index - b.index);
  }

  /** Heap order: "a is worse than b" (lower score, or equal score and later index). */
  private less(sa: number, ia: number, sb: number, ib: number): boolean {
    return sa < sb || (sa === sb && ia > ib);
  }

  private siftDown(score: number, index: number): void {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.size) break;
      const r = l + 1;
      let c = l;
      if (
        r < this.size &&
        this.less(
          this.scores[r] as number,
          this.indices[r] as number,
          this.scores[l] as number,
          this.indices[l] as number,
        )
      ) {
        c = r;
      }
      if (!this.less(this.scores[c] as number, this.indices[c] as number, score, index)) break;
      this.scores[i] = this.scores[c] as number;
      this.indices[i] = this.indices[c] as number;
      i = c;
    }
    this.scores[i] = score;
    this.indices[i] = index;
  }
}

/** The `k` best of `scores`, best first. */
export function topK(scores: ArrayLike<number>, k: number): Scored[] {
  const heap = new TopK(k);
  for (let i = 0; i < scores.length; i++) heap.push(i, scores[i] as number);
  return heap.sorted();
}

/** Largest absolute component; the per-vector scale of both quantisations. */
export function maxAbs(a: VectorLike): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i] as number);
    if (v > m) m = v;
  }
  return m;
}

/**
 * Symmetric per-vector int8 quantisation: `q[i] = round(a[i] / scale)`, `scale = max|a| / 127`.
 * Writes into `out` (length a.length) and returns the scale (0 for a zero vector).
 */
export function quantiseInt8(a: VectorLike, out: Int8Array): number {
  const m = maxAbs(a);
  if (m === 0 || !Number.isFinite(m)) {
    out.fill(0);
    return 0;
  }
  const scale = m / 127;
  for (let i = 0; i < a.length; i++) {
    out[i] = Math.max(-127, Math.min(127, Math.round((a[i] as number) / scale)));
  }
  return scale;
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** IEEE 754 binary16 bits of a number, rounded to nearest even (overflow -> ±Infinity). */
export function toHalf(value: number): number {
  F32[0] = value;
  const x = U32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** The number that binary16 bits `h` encode. */
export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

let halfTable: Float32Array | undefined;

/** Lookup table from binary16 bits to float32, built on first use (256 KiB). */
export function halfToFloatTable(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = fromHalf(h);
  }
  return halfTable;
}

/**
 * Per-vector scaled fp16: stores `a[i] / scale` as binary16 with `scale = max|a|`, so values sit in
 * [-1, 1] where fp16 is most precise. Writes into `out` and returns the scale.
 */
export function quantiseFp16(a: VectorLike, out: Uint16Array): number {
  const m = maxAbs(a);
  if (m === 0 || !Number.isFinite(m)) {
    out.fill(0);
    return 0;
  }
  for (let i = 0; i < a.length; i++) out[i] = toHalf((a[i] as number) / m);
  return m;
}

/** `scale * Σ q[i] * query[i]` over one int8 row of a packed matrix. */
export function dotInt8(query: Float32Array, rows: Int8Array, row: number, scale: number): number {
  const dim = query.length;
  const base = row * dim;
  let sum = 0;
  for (let i = 0; i < dim; i++) sum += (query[i] as number) * (rows[base + i] as number);
  return sum * scale;
}

/** `scale * Σ half(q[i]) * query[i]` over one fp16 row of a packed matrix. */
export function dotFp16(query: Float32Array, rows: Uint16Array, row: number, scale: number): number {
  const table = halfToFloatTable();
  const dim = query.length;
  const base = row * dim;
  let sum = 0;
  for (let i = 0; i < dim; i++) sum += (query[i] as number) * (table[rows[base + i] as number] as number);
  return sum * scale;
}
