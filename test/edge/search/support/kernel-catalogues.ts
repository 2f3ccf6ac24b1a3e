/**
 * In-memory catalogues for the kernel-serving tests: random segments (real KSEG bytes, decoded),
 * a CatalogueView over them with dead rows, and a CatalogueSource that counts its reads.
 */

import type { IndexKey } from '../../../../src/core/contract/spaces';
import {
  decodeSegment,
  encodeSegment,
  type Segment,
  type SegmentEncoding,
} from '../../../../src/core/index-format/segment';
import type { CatalogueSegment, CatalogueView } from '../../../../src/edge/index';
import type { CatalogueSource } from '../../../../src/edge/search/catalogue-search';
import { clusteredVectors, rng } from '../../../core/support/random-vectors';

const COLOURS = ['red', 'blue', 'green', 'yellow'];

export interface TestSegment {
  ref: CatalogueSegment;
  segment: Segment;
}

/**
 * A segment of `count` random clustered vectors with varied metadata (missing fields, numbers,
 * strings, ISO dates); `duplicates` repeats every vector that many times (ties).
 */
export async function testSegment(
  name: string,
  count: number,
  options: {
    dim: number;
    encoding: SegmentEncoding;
    seed: number;
    duplicates?: number;
    zero?: boolean;
    /** Vectors within about 1e-4 of one another (scores closer than the requantisation bound). */
    near?: boolean;
  },
): Promise<TestSegment> {
  const { dim, encoding, seed } = options;
  const next = rng(seed + 7);
  let distinct = [...clusteredVectors(Math.ceil(count / (options.duplicates ?? 1)), dim, seed, 4)];
  if (options.near) {
    const base = distinct[0] as Float32Array;
    distinct = distinct.map((v) => base.map((x, i) => x + ((v[i] as number) - x) * 1e-4));
  }
  const items = Array.from({ length: count }, (_, row) => {
    const vector = options.zero && row % 17 === 3 ? new Float32Array(dim) : distinct[row % distinct.length];
    const metadata: Record<string, string | number> = { colour: COLOURS[row % 4] as string };
    if (next() < 0.8) metadata.count = (row % 5) + 1;
    if (next() < 0.7) metadata.taken = `20${10 + (row % 15)}-0${1 + (row % 9)}-15`;
    return { id: `${name}-${row}`, vector: vector as Float32Array, metadata, caption: `캡션 ${row}` };
  });
  const bytes = await encodeSegment({ model: 'm', version: '1', dim, encoding, items });
  const segment = await decodeSegment(bytes);
  return {
    segment,
    ref: {
      id: name,
      key: `index/test/${name}.kseg`,
      etag: `etag-${name}-${seed}`,
      count,
      bytes: bytes.byteLength,
      checksum: segment.checksum,
      dead: [],
      shard: 0,
    },
  };
}

let generation = 0;

/** A catalogue of these segments (in order), with `dead[i]` the dead rows of segment i. */
export function catalogueOf(
  index: IndexKey,
  parts: readonly TestSegment[],
  dead: readonly (readonly number[])[] = [],
): CatalogueView {
  const first = parts[0]?.segment as Segment;
  const segments = parts.map((p, i) => ({ ...p.ref, dead: [...(dead[i] ?? [])] }));
  return {
    ...index,
    dim: first.dim,
    encoding: first.encoding,
    generation: ++generation,
    count: segments.reduce((n, s) => n + s.count - s.dead.length, 0),
    segments,
    updated_at: null,
  };
}

/** A source over the parts (looked up by key and etag) that counts the segments read. */
export function sourceOf(
  index: IndexKey,
  catalogue: CatalogueView,
  parts: readonly TestSegment[],
): CatalogueSource & { reads: number } {
  const byKey = new Map(parts.map((p) => [`${p.ref.key}#${p.ref.etag}`, p.segment]));
  const source = {
    index,
    catalogue,
    reads: 0,
    async segments(refs: readonly CatalogueSegment[]) {
      source.reads += refs.length;
      return refs.map((ref) => {
        const segment = byKey.get(`${ref.key}#${ref.etag}`);
        if (!segment) throw new Error(`no test segment ${ref.key}`);
        return segment;
      });
    },
  };
  return source;
}
