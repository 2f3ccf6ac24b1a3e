/**
 * One catalogue's search-kernel index in the isolate, grown segment by segment: it holds the
 * kernel rows of the catalogue's segments in catalogue order (the row numbering of
 * referencePage), their ids and metadata, and for fp16 catalogues that fit, the fp16 rows that
 * final scores are computed from (see catalogue-page.ts). Dead rows are not baked in: they are
 * part of each request's mask, so a delete never rebuilds anything.
 *
 * `sync` brings the index to a catalogue's segment list: the segments it already holds as a
 * prefix of the list stay (rows are never requantised twice), the rest is truncated and the new
 * segments are appended. A write that adds a segment appends it; a compaction that replaces the
 * tail rebuilds only the tail. The builder reserves ~25% headroom and grows by copying rows.
 */
import type { Segment } from '../../../core/index-format/segment';
import { halfToFloatTable } from '../../../core/vector';
import type { CatalogueSegment } from '../../index';
import { KernelIndexBuilder } from './builder';
import type { KernelIndex } from './kernel-index';
import { KernelMemoryError, kernelCapacityFor, kernelIndexBytes, type ResidualBits } from './layout';

/** The identity of an immutable segment object: its R2 key and etag (as the segment cache). */
export const segmentIdentity = (ref: Pick<CatalogueSegment, 'key' | 'etag'>) => `${ref.key}#${ref.etag}`;

export interface HeldSegment {
  identity: string;
  /** First kernel row of this segment. */
  base: number;
  count: number;
  ids: readonly string[];
  attrs: Segment['attrs'];
  /** The decoded segment, kept for exact fp16 scores while the catalogue's fp16 rows fit. */
  fp16?: Segment;
}

const HEADROOM = 1.25;
const CAPACITY_STEP = 1024;

export class CatalogueKernel {
  readonly residualBits: ResidualBits;
  #builder: KernelIndexBuilder | undefined;
  #held: HeldSegment[] = [];
  #index: KernelIndex | undefined;
  /** Whether fp16 rows are held (fp16 catalogues only); once dropped, only a new entry retakes them. */
  #holdFp16: boolean;
  #maxFp16Scale = 0;

  constructor(
    private readonly module: WebAssembly.Module,
    readonly dim: number,
    readonly encoding: 'fp16' | 'int8',
    private readonly budgetBytes: number,
  ) {
    this.residualBits = encoding === 'int8' ? 0 : 2;
    this.#holdFp16 = encoding === 'fp16';
  }

  get held(): readonly HeldSegment[] {
    return this.#held;
  }

  /** The index over every held row (undefined before the first sync). */
  get index(): KernelIndex | undefined {
    return this.#index;
  }

  get rows(): number {
    const last = this.#held.at(-1);
    return last ? last.base + last.count : 0;
  }

  /** Whether final scores come from the fp16 rows (else from the kernel's requantised rows). */
  get exactFp16(): boolean {
    return this.encoding === 'fp16' && this.#holdFp16;
  }

  /**
   * Bound on |kernel score - fp16 score| of any row per unit of the query's L1 norm: the 2-bit
   * residual leaves at most 1/8 of a kernel step per component, and a kernel step is at most
   * the fp16 row's scale / 127 (plus float32 rounding of the scale, generously).
   */
  get fp16ErrorPerL1(): number {
    return (this.#maxFp16Scale / 127) * 0.1251 * (1 + 1e-6);
  }

  /** wasm memory plus the fp16 rows held: what counts against the kernel budget. */
  get bytes(): number {
    const wasm = this.#builder ? kernelIndexBytes(this.dim, this.#builder.capacity, this.residualBits) : 0;
    return wasm + (this.exactFp16 ? this.rows * this.dim * 2 : 0);
  }

  /** How many of `refs`' first segments this index already holds, in order. */
  prefix(refs: readonly CatalogueSegment[]): number {
    let i = 0;
    while (
      i < refs.length &&
      i < this.#held.length &&
      this.#held[i]?.identity === segmentIdentity(refs[i] as CatalogueSegment)
    )
      i++;
    return i;
  }

  /** The segments `sync(refs)` would have to read. */
  missing(refs: readonly CatalogueSegment[]): CatalogueSegment[] {
    return refs.slice(this.prefix(refs));
  }

  /**
   * Makes the index hold exactly `refs`, reading new segments from `loaded` (by segmentIdentity).
   * Returns false, changing nothing, when a segment it needs is not in `loaded`. `plannedRows`
   * (the catalogue's rows when it is synced in steps) sizes the memory reserved. Throws
   * KernelMemoryError when the rows do not fit the budget (the entry is then unusable).
   */
  sync(refs: readonly CatalogueSegment[], loaded: ReadonlyMap<string, Segment>, plannedRows = 0): boolean {
    const keep = this.prefix(refs);
    const fresh = refs.slice(keep);
    if (fresh.some((ref) => !loaded.has(segmentIdentity(ref)))) return false;
    if (keep === refs.length && keep === this.#held.length && this.#index) return true;
    const kept = this.#held.slice(0, keep);
    const keptRows = kept.reduce((sum, s) => sum + s.count, 0);
    const rows = keptRows + fresh.reduce((sum, ref) => sum + ref.count, 0);
    this.#ensureCapacity(keptRows, Math.max(rows, plannedRows));
    const builder = this.#builder as KernelIndexBuilder;
    builder.truncate(keptRows);
    this.#held = kept;
    if (!this.#holdFp16) for (const s of this.#held) delete s.fp16;
    for (const ref of fresh) this.#append(ref, loaded.get(segmentIdentity(ref)) as Segment);
    this.#index = builder.snapshot();
    return true;
  }

  #ensureCapacity(keptRows: number, rows: number): void {
    const fp16Bytes = (n: number) => (this.#holdFp16 ? n * this.dim * 2 : 0);
    const fits = (capacity: number) =>
      kernelIndexBytes(this.dim, capacity, this.residualBits) + fp16Bytes(rows) <= this.budgetBytes;
    const current = this.#builder;
    if (current && current.capacity >= rows && fits(current.capacity)) return;
    const max = kernelCapacityFor(this.dim, this.residualBits, this.budgetBytes);
    if (rows > max) {
      throw new KernelMemoryError(
        kernelIndexBytes(this.dim, rows, this.residualBits),
        this.budgetBytes,
        `a catalogue of ${rows} x ${this.dim} (${this.encoding})`,
      );
    }
    const wanted = Math.ceil((rows * HEADROOM) / CAPACITY_STEP) * CAPACITY_STEP;
    let capacity = Math.min(max, wanted);
    // fp16 rows held beside the kernel: give up the headroom first, then the fp16 rows.
    if (!fits(capacity)) capacity = rows;
    if (!fits(capacity)) this.#holdFp16 = false;
    if (current && current.capacity >= rows && fits(current.capacity)) return;
    const next = new KernelIndexBuilder(this.module, this.dim, capacity, {
      residualBits: this.residualBits,
      budgetBytes: this.budgetBytes,
    });
    if (current) next.copyRows(current, keptRows);
    this.#builder = next;
  }

  #append(ref: CatalogueSegment, segment: Segment): void {
    if (segment.dim !== this.dim || segment.encoding !== this.encoding || segment.count !== ref.count) {
      throw new RangeError(
        `segment ${ref.id} is ${segment.count} x ${segment.dim} ${segment.encoding}, the catalogue says ` +
          `${ref.count} x ${this.dim} ${this.encoding}`,
      );
    }
    const builder = this.#builder as KernelIndexBuilder;
    const { dim } = this;
    const base = builder.count;
    if (segment.encoding === 'int8') {
      const codes = segment.vectors as Int8Array;
      for (let row = 0; row < segment.count; row++)
        builder.addInt8(codes.subarray(row * dim, (row + 1) * dim), segment.scales[row] as number);
    } else {
      const table = halfToFloatTable();
      const bits = segment.vectors as Uint16Array;
      const v = new Float64Array(dim);
      for (let row = 0; row < segment.count; row++) {
        const scale = segment.scales[row] as number;
        this.#maxFp16Scale = Math.max(this.#maxFp16Scale, scale);
        for (let i = 0; i < dim; i++) v[i] = (table[bits[row * dim + i] as number] as number) * scale;
        builder.add(v);
      }
    }
    this.#held.push({
      identity: segmentIdentity(ref),
      base,
      count: segment.count,
      ids: segment.ids,
      attrs: segment.attrs,
      ...(this.#holdFp16 && segment.encoding === 'fp16' ? { fp16: segment } : {}),
    });
  }
}
