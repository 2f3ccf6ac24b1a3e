/**
 * The read side of one index: its catalogue comes from the index's writer (a Durable Object, so
 * strongly consistent: once a write is applied, the next search sees it), its segments from R2
 * through the isolate's segment cache (keyed by R2 key and etag). Never writes.
 */

import type { IndexKey } from '../../core/contract/spaces';
import { rowVector, type Segment } from '../../core/index-format/segment';
import type { Env } from '../env';
import type { CatalogueView, RecordView } from './contract';
import { IndexCorruptError, loadSegment } from './segments';
import { writerFor } from './writer/stub';

export interface LoadedIndex {
  catalogue: CatalogueView;
  segments: Segment[];
  /** Per segment (same order), the rows that no longer count (superseded or deleted). */
  dead: ReadonlySet<number>[];
}

export class IndexReader {
  constructor(
    private readonly env: Pick<Env, 'INDEX_BUCKET' | 'INDEX_WRITER'>,
    readonly index: IndexKey,
  ) {}

  private writer() {
    return writerFor(this.env, this.index);
  }

  /** The catalogue, or null when nothing was ever written to this index. */
  async catalogue(): Promise<CatalogueView | null> {
    return this.writer().catalogue();
  }

  /** The catalogue's generation (0 when nothing was ever written), without the catalogue. */
  async generation(): Promise<number> {
    return this.writer().generation();
  }

  /**
   * Segments of the catalogue, decoded, in the order given. `cache: false` does not keep them in
   * the segment cache (for readers that keep the rows themselves).
   */
  async segments(
    catalogue: CatalogueView,
    refs: readonly CatalogueView['segments'][number][],
    options: { cache?: boolean } = {},
  ): Promise<Segment[]> {
    const space = { model: catalogue.model, version: catalogue.version, dim: catalogue.dim };
    return Promise.all(refs.map((entry) => loadSegment(this.env.INDEX_BUCKET, entry, space, options)));
  }

  /** The catalogue and every live segment, decoded. */
  async load(): Promise<LoadedIndex | null> {
    const catalogue = await this.catalogue();
    if (!catalogue) return null;
    const segments = await this.segments(catalogue, catalogue.segments);
    return { catalogue, segments, dead: catalogue.segments.map((s) => new Set(s.dead)) };
  }

  /** One image's status, or null when the id is unknown. */
  async record(id: string): Promise<RecordView | null> {
    return this.writer().record(id);
  }

  /** The stored (dequantised) vector of an indexed image with its record, or null if it has none. */
  async vector(id: string): Promise<{ record: RecordView; vector: Float32Array } | null> {
    const record = await this.record(id);
    if (record?.state !== 'indexed' || !record.location) return null;
    const { location } = record;
    const segment = await loadSegment(
      this.env.INDEX_BUCKET,
      { id: location.segment, ...location },
      { model: this.index.model, version: this.index.version },
    );
    if (segment.ids[location.row] !== id)
      throw new IndexCorruptError(`segment ${location.segment} row ${location.row} is not ${id}`);
    return { record, vector: rowVector(segment, location.row) };
  }
}
