/** A kernel index in one call: over float vectors, or over decoded segments. */
import type { Segment } from '../../../core/index-format/segment';
import { halfToFloatTable } from '../../../core/vector';
import { KernelIndexBuilder, type KernelIndexOptions } from './builder';
import type { KernelIndex } from './kernel-index';
import { DEFAULT_RESIDUAL_BITS } from './layout';

/** An index over float vectors (each `dim` long), quantised here. */
export function buildKernelIndex(
  module: WebAssembly.Module,
  dim: number,
  vectors: readonly ArrayLike<number>[],
  options: KernelIndexOptions = {},
): KernelIndex {
  const builder = new KernelIndexBuilder(module, dim, vectors.length, options);
  for (const v of vectors) builder.add(v);
  return builder.finish();
}

/**
 * An index over decoded segments, rows numbered across them in order (the numbering of
 * referencePage). int8 segments are copied code for code (residualBits must be 0, the default
 * for them); fp16 segments are dequantised and quantised again (default DEFAULT_RESIDUAL_BITS).
 */
export function buildKernelIndexFromSegments(
  module: WebAssembly.Module,
  segments: readonly Segment[],
  options: KernelIndexOptions = {},
): KernelIndex {
  const first = segments[0];
  if (!first) throw new RangeError('search kernel: no segments');
  const dim = first.dim;
  const anyInt8 = segments.some((s) => s.encoding === 'int8');
  const bits = options.residualBits ?? (anyInt8 ? 0 : DEFAULT_RESIDUAL_BITS);
  if (anyInt8 && bits !== 0) throw new RangeError('search kernel: int8 segments need residualBits 0');
  const total = segments.reduce((s, seg) => s + seg.count, 0);
  const builder = new KernelIndexBuilder(module, dim, total, { ...options, residualBits: bits });
  const table = segments.some((s) => s.encoding === 'fp16') ? halfToFloatTable() : undefined;
  const v = new Float64Array(dim);
  for (const seg of segments) {
    if (seg.dim !== dim) throw new RangeError(`search kernel: segment has dim ${seg.dim}, expected ${dim}`);
    for (let row = 0; row < seg.count; row++) {
      const scale = seg.scales[row] as number;
      if (seg.encoding === 'int8') {
        builder.addInt8((seg.vectors as Int8Array).subarray(row * dim, (row + 1) * dim), scale);
      } else {
        const bits16 = seg.vectors as Uint16Array;
        for (let i = 0; i < dim; i++)
          v[i] = ((table as Float32Array)[bits16[row * dim + i] as number] as number) * scale;
        builder.add(v);
      }
    }
  }
  return builder.finish();
}
