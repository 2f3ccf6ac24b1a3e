/**
 * The image index of one embedding space: immutable segments in R2 (vectors, ids, metadata) and
 * in KV a catalogue (which segments make up the index) and one record per image (where its
 * vector lives). Receives its bindings; all keys come from ./keys.
 */
import {
  decodeSegment,
  encodeSegment,
  type ItemMetadata,
  rowVector,
  type Segment,
  type SegmentEncoding,
  SegmentError,
} from '../../core/index-format/segment';
import {
  type Catalogue,
  CatalogueSchema,
  type IndexRecord,
  IndexRecordSchema,
  type SegmentEntry,
} from './catalogue';
import { catalogueKey, fitsKv, type IndexSpace, recordKey, recordPrefix, segmentObjectKey } from './keys';
import { getCachedSegment, putCachedSegment } from './segment-cache';

export interface IndexBindings {
  bucket: R2Bucket;
  kv: KVNamespace;
}

export interface IndexItem {
  id: string;
  vector: ArrayLike<number>;
  metadata?: ItemMetadata;
  caption?: string;
}

export interface LoadedIndex {
  catalogue: Catalogue;
  segments: Segment[];
}

export const DEFAULT_SEGMENT_SIZE = 4096;

/** A stored index that is inconsistent (a listed segment missing or not matching the catalogue). */
export class IndexCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IndexCorruptError';
  }
}

export class IndexStore {
  constructor(
    private readonly bindings: IndexBindings,
    readonly space: IndexSpace,
  ) {}

  /** The catalogue, or null when this space has no index. */
  async catalogue(): Promise<Catalogue | null> {
    const raw = await this.bindings.kv.get(catalogueKey(this.space), 'json');
    if (raw === null) return null;
    const parsed = CatalogueSchema.safeParse(raw);
    if (!parsed.success) throw new IndexCorruptError(`catalogue of ${this.describe()} is invalid`);
    return parsed.data;
  }

  /** The catalogue and every segment (decoded, from the isolate cache when the etag matches). */
  async load(): Promise<LoadedIndex | null> {
    const catalogue = await this.catalogue();
    if (!catalogue) return null;
    const segments = await Promise.all(catalogue.segments.map((entry) => this.segment(entry, catalogue)));
    return { catalogue, segments };
  }

  /** One image's record, or null when the id is not indexed. */
  async record(id: string): Promise<IndexRecord | null> {
    const key = recordKey(this.space, id);
    if (!fitsKv(key)) return null;
    const raw = await this.bindings.kv.get(key, 'json');
    if (raw === null) return null;
    const parsed = IndexRecordSchema.safeParse(raw);
    if (!parsed.success) throw new IndexCorruptError(`record ${id} of ${this.describe()} is invalid`);
    return parsed.data;
  }

  /** The stored (dequantised) vector of an indexed image with its record, or null if unknown. */
  async vector(id: string): Promise<{ record: IndexRecord; vector: Float32Array } | null> {
    const [catalogue, record] = await Promise.all([this.catalogue(), this.record(id)]);
    if (!catalogue || !record) return null;
    const entry = catalogue.segments.find((s) => s.id === record.segment);
    if (entry) {
      const segment = await this.segment(entry, catalogue);
      if (segment.ids[record.row] === id) return { record, vector: rowVector(segment, record.row) };
    }
    // The record belongs to another generation than this catalogue (a write in between): find
    // the id in this generation's segments instead.
    for (const other of catalogue.segments) {
      const segment = await this.segment(other, catalogue);
      const row = segment.ids.indexOf(id);
      if (row >= 0) {
        const attrs = segment.attrs[row] as { metadata: ItemMetadata; caption?: string };
        const found = { id, segment: other.id, row, generation: catalogue.generation, ...attrs };
        return { record: found, vector: rowVector(segment, row) };
      }
    }
    return null;
  }

  /**
   * Replaces the whole index with `items`: writes new segments, then records, then the catalogue
   * (so readers switch at once). The previous generation's segments stay (as `retired`) for
   * readers that still hold its catalogue; the generation before that is deleted. One writer at a
   * time per index (the webhook writer serialises writes).
   */
  async replace(
    items: readonly IndexItem[],
    options: { dim: number; encoding?: SegmentEncoding; segmentSize?: number },
  ): Promise<Catalogue> {
    const { dim, encoding = 'fp16', segmentSize = DEFAULT_SEGMENT_SIZE } = options;
    const tooLong = items.find((item) => !fitsKv(recordKey(this.space, item.id)));
    if (tooLong) throw new RangeError(`image id too long for a KV record key: ${tooLong.id.slice(0, 40)}…`);
    const previous = await this.catalogue();
    const generation = (previous?.generation ?? 0) + 1;
    const entries: SegmentEntry[] = [];
    const records: IndexRecord[] = [];
    for (let start = 0, n = 0; start < items.length; start += segmentSize, n++) {
      const chunk = items.slice(start, start + segmentSize);
      const id = `g${generation}-s${n}`;
      const bytes = await encodeSegment({ ...this.space, dim, encoding, items: chunk });
      const key = segmentObjectKey(this.space, id);
      const put = await this.bindings.bucket.put(key, bytes, {
        httpMetadata: { contentType: 'application/octet-stream' },
      });
      const decoded = await decodeSegment(bytes);
      entries.push({
        id,
        key,
        etag: put.etag,
        count: chunk.length,
        bytes: bytes.length,
        checksum: decoded.checksum,
      });
      chunk.forEach((item, row) => {
        records.push({
          id: item.id,
          segment: id,
          row,
          generation,
          metadata: item.metadata ?? {},
          ...(item.caption === undefined ? {} : { caption: item.caption }),
        });
      });
    }
    await Promise.all(
      records.map((r) => this.bindings.kv.put(recordKey(this.space, r.id), JSON.stringify(r))),
    );
    const catalogue: Catalogue = {
      schema: 1,
      ...this.space,
      dim,
      encoding,
      generation,
      count: items.length,
      segments: entries,
      retired: previous?.segments ?? [],
      updated_at: new Date().toISOString(),
    };
    await this.bindings.kv.put(catalogueKey(this.space), JSON.stringify(catalogue));
    const keep = new Set([...catalogue.segments, ...catalogue.retired].map((s) => s.key));
    const expired = (previous?.retired ?? []).map((s) => s.key).filter((k) => !keep.has(k));
    if (expired.length > 0) await this.bindings.bucket.delete(expired);
    await this.deleteStaleRecords(new Set(records.map((r) => r.id)));
    return catalogue;
  }

  private async deleteStaleRecords(keep: Set<string>): Promise<void> {
    const prefix = recordPrefix(this.space);
    let cursor: string | undefined;
    do {
      const page = await this.bindings.kv.list({ prefix, ...(cursor ? { cursor } : {}) });
      const stale = page.keys.filter((k) => !keep.has(decodeURIComponent(k.name.slice(prefix.length))));
      await Promise.all(stale.map((k) => this.bindings.kv.delete(k.name)));
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor);
  }

  private async segment(entry: SegmentEntry, catalogue: Catalogue): Promise<Segment> {
    const cached = getCachedSegment(entry.key, entry.etag);
    if (cached) return cached;
    const object = await this.bindings.bucket.get(entry.key);
    if (!object) throw new IndexCorruptError(`segment ${entry.id} of ${this.describe()} is missing from R2`);
    const bytes = await object.arrayBuffer();
    let segment: Segment;
    try {
      segment = await decodeSegment(bytes, { ...this.space, dim: catalogue.dim });
    } catch (error) {
      if (error instanceof SegmentError) throw new IndexCorruptError(`segment ${entry.id}: ${error.message}`);
      throw error;
    }
    if (segment.checksum !== entry.checksum || segment.count !== entry.count) {
      throw new IndexCorruptError(`segment ${entry.id} does not match the catalogue`);
    }
    putCachedSegment(entry.key, entry.etag, segment, bytes.byteLength);
    return segment;
  }

  private describe(): string {
    return `index ${this.space.model}@${this.space.version}`;
  }
}
