/**
 * Writes index rows as new immutable segments in INDEX_BUCKET, `segment_rows` rows each, and
 * answers what the catalogue records of each. Used by the writer's `apply` and by compaction; the
 * caller commits the segments to the catalogue in its own transaction after the awaits.
 */
import { toHex } from '../../../core/hash';
import { encodeSegment, type SegmentItem } from '../../../core/index-format/segment';
import { segmentObjectKey } from '../../storage-keys';
import type { WrittenSegment } from '../contract';
import type { Catalogue, IndexMeta } from './catalogue';

/** Encodes and puts the segments of `items`, in order. */
export async function writeSegments(
  bucket: R2Bucket,
  catalogue: Catalogue,
  meta: IndexMeta,
  items: SegmentItem[],
): Promise<WrittenSegment[]> {
  const out: WrittenSegment[] = [];
  for (let start = 0; start < items.length; start += meta.segment_rows) {
    const chunk = items.slice(start, start + meta.segment_rows);
    // The id is taken before the await, so concurrent writes never share one.
    const id = `s${catalogue.nextSegmentNumber()}`;
    const key = segmentObjectKey(meta, id);
    const bytes = await encodeSegment({
      model: meta.model,
      version: meta.version,
      dim: meta.dim,
      encoding: meta.encoding,
      items: chunk,
    });
    const put = await bucket.put(key, bytes, { httpMetadata: { contentType: 'application/octet-stream' } });
    out.push({
      id,
      key,
      etag: put.etag,
      count: chunk.length,
      bytes: bytes.length,
      checksum: checksumOf(bytes),
    });
  }
  return out;
}

/** The segment trailer is the SHA-256 of everything before it (src/core/index-format/segment.ts). */
const checksumOf = (bytes: Uint8Array) => toHex(bytes.subarray(bytes.length - 32));
