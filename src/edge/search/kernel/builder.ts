/**
 * KernelIndexBuilder: a kernel index filled row by row, from float vectors (quantised here) or an
 * int8 segment's codes. Its snapshots let a catalogue's index grow segment by segment
 * (catalogue-kernel.ts); build.ts makes an index in one call.
 */
import { quantiseInt8 } from '../../../core/vector';
import { KERNEL_MEMORY_BUDGET_BYTES } from '../../isolate-memory';
import { KernelIndex } from './kernel-index';
import {
  align16,
  DEFAULT_RESIDUAL_BITS,
  instantiate,
  type KernelExports,
  type KernelMemory,
  KernelMemoryError,
  type Layout,
  layout,
  type ResidualBits,
} from './layout';

export interface KernelIndexOptions {
  /** Residual bits per component (0 = int8 codes only). Default DEFAULT_RESIDUAL_BITS. */
  residualBits?: ResidualBits;
  /** Memory budget in bytes; default (and maximum) KERNEL_MEMORY_BUDGET_BYTES. */
  budgetBytes?: number;
}

/**
 * Fills an index row by row (float vectors or int8 codes with their scale). The memory for
 * `capacity` rows is reserved, and checked against the budget, when the builder is made.
 */
export class KernelIndexBuilder {
  readonly dim: number;
  readonly dimPadded: number;
  readonly capacity: number;
  readonly residualBits: ResidualBits;
  #k: KernelExports;
  #l: Layout;
  #budget: number;
  #count = 0;
  #maxScaledL1 = 0;
  #maxScale = 0;
  #tmp: Int8Array;
  #done = false;

  constructor(module: WebAssembly.Module, dim: number, capacity: number, options: KernelIndexOptions = {}) {
    if (!Number.isInteger(dim) || dim < 1 || dim > 8192)
      throw new RangeError(`search kernel: bad dim ${dim}`);
    if (!Number.isInteger(capacity) || capacity < 0)
      throw new RangeError(`search kernel: bad capacity ${capacity}`);
    const bits = options.residualBits ?? DEFAULT_RESIDUAL_BITS;
    if (bits !== 0 && bits !== 1 && bits !== 2)
      throw new RangeError(`search kernel: bad residual bits ${bits}`);
    const budget = options.budgetBytes ?? KERNEL_MEMORY_BUDGET_BYTES;
    if (!(budget > 0 && budget <= KERNEL_MEMORY_BUDGET_BYTES)) {
      throw new RangeError(`search kernel: budget ${budget} must be in (0, ${KERNEL_MEMORY_BUDGET_BYTES}]`);
    }
    this.dim = dim;
    this.dimPadded = align16(dim);
    this.capacity = capacity;
    this.residualBits = bits;
    this.#budget = budget;
    // Check before instantiating anything: a layout from address 0 is the same size give or take
    // the module's static data, which is added once the instance exists.
    const needed = layout(0, capacity, this.dimPadded, bits).end;
    if (needed > budget) {
      throw new KernelMemoryError(needed, budget, `an index of ${capacity} x ${dim} (residual ${bits} bits)`);
    }
    this.#k = instantiate(module);
    this.#l = layout(this.#k.heapBase(), capacity, this.dimPadded, bits);
    if (this.#l.end > budget) {
      throw new KernelMemoryError(
        this.#l.end,
        budget,
        `an index of ${capacity} x ${dim} (residual ${bits} bits)`,
      );
    }
    const have = this.#k.memory.buffer.byteLength;
    if (this.#l.end > have) this.#k.memory.grow(Math.ceil((this.#l.end - have) / 65536));
    this.#tmp = new Int8Array(dim);
  }

  get count(): number {
    return this.#count;
  }

  #next(): number {
    if (this.#done) throw new Error('search kernel: builder already finished');
    if (this.#count >= this.capacity)
      throw new RangeError(`search kernel: index is full (${this.capacity} rows)`);
    return this.#count++;
  }

  /** Adds a float vector (quantised here: int8 codes like quantiseInt8, plus the residual). */
  add(vector: ArrayLike<number>): number {
    if (vector.length !== this.dim) {
      throw new RangeError(`search kernel: vector has ${vector.length} components, expected ${this.dim}`);
    }
    for (let i = 0; i < this.dim; i++) {
      if (!Number.isFinite(vector[i] as number)) throw new RangeError('search kernel: non-finite component');
    }
    const row = this.#next();
    const codes = this.#tmp;
    const scale = Math.fround(quantiseInt8(vector, codes));
    const mem = this.#k.memory.buffer;
    new Int8Array(mem, this.#l.codes + row * this.dimPadded, this.dim).set(codes);
    if (this.residualBits > 0 && scale > 0) {
      const bits = this.residualBits;
      const per = 8 / bits;
      const res = new Uint8Array(
        mem,
        this.#l.resid + (row * this.dimPadded * bits) / 8,
        (this.dimPadded * bits) / 8,
      );
      res.fill(0);
      for (let i = 0; i < this.dim; i++) {
        const r = (vector[i] as number) / scale - (codes[i] as number);
        const levels = 1 << bits;
        const c = Math.max(0, Math.min(levels - 1, Math.floor((r + 0.5) * levels)));
        res[(i / per) | 0] = (res[(i / per) | 0] as number) | (c << ((i % per) * bits));
      }
    } else if (this.residualBits > 0) {
      // A zero vector: codes 0, scale 0; the residual is multiplied by 0 anyway.
      new Uint8Array(
        mem,
        this.#l.resid + (row * this.dimPadded * this.residualBits) / 8,
        (this.dimPadded * this.residualBits) / 8,
      ).fill(0);
    }
    this.#setScale(row, scale, codes);
    return row;
  }

  /** Adds a vector given as int8 codes and its scale (an int8 segment's row); no residual. */
  addInt8(codes: Int8Array, scale: number): number {
    if (this.residualBits !== 0)
      throw new Error('search kernel: int8 rows carry no residual; build with residualBits 0');
    if (codes.length !== this.dim) {
      throw new RangeError(`search kernel: row has ${codes.length} codes, expected ${this.dim}`);
    }
    if (!(Number.isFinite(scale) && scale >= 0)) throw new RangeError(`search kernel: bad scale ${scale}`);
    const row = this.#next();
    new Int8Array(this.#k.memory.buffer, this.#l.codes + row * this.dimPadded, this.dim).set(codes);
    this.#setScale(row, Math.fround(scale), codes);
    return row;
  }

  #setScale(row: number, scale: number, codes: Int8Array): void {
    new Float32Array(this.#k.memory.buffer, this.#l.scales + row * 4, 1)[0] = scale;
    let l1 = 0;
    for (let i = 0; i < codes.length; i++) l1 += Math.abs(codes[i] as number);
    this.#maxScaledL1 = Math.max(this.#maxScaledL1, scale * l1);
    this.#maxScale = Math.max(this.#maxScale, scale);
  }

  /**
   * Forgets the rows from `count` on (the next rows added overwrite them). The error bounds the
   * search uses keep the maxima of every row ever added, which stays correct (only looser).
   * Views made by snapshot() before a truncation must not be searched after it.
   */
  truncate(count: number): void {
    if (this.#done) throw new Error('search kernel: builder already finished');
    if (!Number.isInteger(count) || count < 0 || count > this.#count)
      throw new RangeError(`search kernel: cannot truncate ${this.#count} rows to ${count}`);
    this.#count = count;
  }

  /** Copies the first `count` rows of `from` (same dim and residual bits) into this empty builder. */
  copyRows(from: KernelIndexBuilder, count: number): void {
    if (this.#done) throw new Error('search kernel: builder already finished');
    if (this.#count !== 0) throw new Error('search kernel: copyRows needs an empty builder');
    if (from.dim !== this.dim || from.residualBits !== this.residualBits)
      throw new RangeError('search kernel: copyRows between indexes of another shape');
    if (!Number.isInteger(count) || count < 0 || count > from.count || count > this.capacity)
      throw new RangeError(`search kernel: cannot copy ${count} rows`);
    const src = from.#k.memory.buffer;
    const dst = this.#k.memory.buffer;
    const copy = (fromAt: number, toAt: number, bytes: number) =>
      new Uint8Array(dst, toAt, bytes).set(new Uint8Array(src, fromAt, bytes));
    copy(from.#l.codes, this.#l.codes, count * this.dimPadded);
    copy(from.#l.resid, this.#l.resid, (count * this.dimPadded * this.residualBits) / 8);
    copy(from.#l.scales, this.#l.scales, count * 4);
    this.#count = count;
    this.#maxScaledL1 = from.#maxScaledL1;
    this.#maxScale = from.#maxScale;
  }

  /**
   * A searchable index over the rows added so far, sharing this builder's memory: the builder
   * keeps taking rows (the view never sees them). Lets an index grow segment by segment.
   */
  snapshot(): KernelIndex {
    if (this.#done) throw new Error('search kernel: builder already finished');
    return this.#index();
  }

  finish(): KernelIndex {
    if (this.#done) throw new Error('search kernel: builder already finished');
    this.#done = true;
    return this.#index();
  }

  #index(): KernelIndex {
    const memory: KernelMemory = {
      codeBytes: this.capacity * this.dimPadded,
      residualBytes: (this.capacity * this.dimPadded * this.residualBits) / 8,
      scaleBytes: this.capacity * 4,
      bufferBytes: this.#l.scales - this.#l.queryI16,
      totalBytes: this.#l.end,
      wasmMemoryBytes: this.#k.memory.buffer.byteLength,
      budgetBytes: this.#budget,
    };
    if (memory.totalBytes > this.#budget) {
      throw new KernelMemoryError(
        memory.totalBytes,
        this.#budget,
        `an index of ${this.capacity} x ${this.dim}`,
      );
    }
    return new KernelIndex(
      this.#k,
      this.#l,
      this.dim,
      this.#count,
      this.residualBits,
      memory,
      this.#maxScaledL1,
      this.#maxScale,
    );
  }
}
