/**
 * What crosses into the index writer (the Durable Object of ./writer.ts): the events it accepts,
 * the results the queue consumer hands it, and the views it answers with. Plain types and zod
 * schemas, so the ingest routes, the consumer, the read side and the tests share one contract.
 */
import type { ImageSourceRef, RecordState } from '../../core/contract/ingest-schemas';

/** One event as the writer accepts it (already validated by the ingest side). */
export type WriterEvent =
  | {
      op: 'upsert';
      id: string;
      source: ImageSourceRef;
      metadata: Record<string, string | number | boolean | null>;
      caption?: string;
      /** Known when the bytes are ours (uploads, R2 objects): lets the consumer skip re-embedding. */
      content_sha256?: string;
    }
  | { op: 'delete'; id: string };

/** An image as a migration copies it from one index into another: what it was accepted with. */
export interface CopiedImage {
  id: string;
  source: ImageSourceRef;
  metadata: Record<string, string | number | boolean | null>;
  caption?: string;
  /** The hash of the bytes the old index embedded (or expects), when known. */
  content_sha256?: string;
}

/** What accept() answers per event, in order: the arrival number the event got. */
export interface AcceptedEvent {
  id: string;
  op: 'upsert' | 'delete';
  /** Arrival order per index; a result for an older seq than the record's latest is ignored. */
  seq: number;
}

/** A result the consumer hands back for one upsert (the seq it was accepted with). */
export type ApplyItem =
  | {
      id: string;
      seq: number;
      /** The embedding (unit length, the index's dim) and the hash of the bytes it came from. */
      vector: number[];
      content_sha256: string;
    }
  | {
      id: string;
      seq: number;
      /** The bytes are those already indexed: keep the stored vector, take the new metadata. */
      reuse: true;
      content_sha256: string;
    }
  | {
      id: string;
      seq: number;
      /** A permanent failure (the encoder's reason): the record ends `failed`. */
      error: { code: string; message: string };
    };

/** What the consumer needs to know before embedding an upsert. */
export interface PlanItem {
  id: string;
  seq: number;
  /** `stale`: a newer event superseded this one (drop it); `reuse`: same bytes as indexed. */
  action: 'embed' | 'reuse' | 'stale';
}

/** A segment as written to R2: what the catalogue records of it. */
export interface WrittenSegment {
  id: string;
  key: string;
  etag: string;
  count: number;
  bytes: number;
  checksum: string;
}

/** One segment of the catalogue a search uses, with the rows that no longer count. */
export interface CatalogueSegment extends WrittenSegment {
  /** Rows of this segment superseded or deleted since it was written. */
  dead: number[];
  /** The search shard that holds it (../search/shards; placed by ./shard-plan.ts). */
  shard: number;
}

/** The catalogue of one index, read from the writer (strongly consistent: read-your-writes). */
export interface CatalogueView {
  collection: string;
  model: string;
  version: string;
  dim: number;
  encoding: 'fp16' | 'int8';
  /** Increments on every applied change; cursors and caches of an older generation are stale. */
  generation: number;
  /** Live (indexed) images. */
  count: number;
  segments: CatalogueSegment[];
  updated_at: string | null;
}

/** GET /v1/images/:id */
export interface RecordView {
  id: string;
  collection: string;
  state: RecordState;
  error?: { code: string; message: string };
  metadata: Record<string, string | number | boolean | null>;
  caption?: string;
  content_sha256: string | null;
  attempts: number;
  updated_at: string;
  /** Where the image of the latest upsert comes from. */
  source?: ImageSourceRef;
  /** Where the indexed vector lives (absent unless indexed). */
  location?: { segment: string; key: string; etag: string; count: number; checksum: string; row: number };
}
