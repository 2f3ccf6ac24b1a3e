/**
 * Reading one immutable segment from INDEX_BUCKET: fetched by key, checked against what the
 * catalogue says of it (count, checksum, embedding space), decoded, and kept in the isolate's
 * segment cache under its key and etag. Shared by the read side and the index writer.
 */

import type { EmbeddingSpace } from '../../core/contract/spaces';
import { decodeSegment, type Segment, SegmentError } from '../../core/index-format/segment';
import { getCachedSegment, putCachedSegment } from './segment-cache';

/** A stored index that is inconsistent (a listed segment missing or not matching the catalogue). */
export class IndexCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IndexCorruptError';
  }
}

/** What the catalogue says of a segment. */
export interface SegmentRef {
  id: string;
  key: string;
  etag: string;
  count: number;
  checksum: string;
}

/**
 * `cache: false` reads around the cache (a cached copy is still used, a fresh one is not kept):
 * for readers that keep the rows themselves, such as the search kernel.
 */
export async function loadSegment(
  bucket: R2Bucket,
  ref: SegmentRef,
  space: Pick<EmbeddingSpace, 'model' | 'version'> & { dim?: number },
  options: { cache?: boolean } = {},
): Promise<Segment> {
  const cached = getCachedSegment(ref.key, ref.etag);
  if (cached) return cached;
  const object = await bucket.get(ref.key);
  if (!object) throw new IndexCorruptError(`segment ${ref.id} of ${describe(space)} is missing from R2`);
  const bytes = await object.arrayBuffer();
  let segment: Segment;
  try {
    segment = await decodeSegment(bytes, {
      model: space.model,
      version: space.version,
      ...(space.dim === undefined ? {} : { dim: space.dim }),
    });
  } catch (error) {
    if (error instanceof SegmentError) throw new IndexCorruptError(`segment ${ref.id}: ${error.message}`);
    throw error;
  }
  if (segment.checksum !== ref.checksum || segment.count !== ref.count) {
    throw new IndexCorruptError(`segment ${ref.id} does not match the catalogue`);
  }
  if (options.cache !== false) putCachedSegment(ref.key, ref.etag, segment, bytes.byteLength);
  return segment;
}

const describe = (space: Pick<EmbeddingSpace, 'model' | 'version'>) =>
  `index ${space.model}@${space.version}`;
