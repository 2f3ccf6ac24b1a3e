/**
 * Where a search shard should reload its part from after an eviction, measured (benchmarks only,
 * through SearchShard.debugReloadProbe): reading the part's segment objects from R2, against
 * reading the same bytes back from the shard's own SQLite (written once, in rows under the 2 MB
 * row limit), each followed by the same decode. The shard reloads from R2 (docs/indexing.md);
 * this probe is the measurement behind that choice (docs/benchmarks.md, "Search shards").
 */
import { decodeSegment } from '../../../core/index-format/segment';
import type { ShardPart, ShardSearch } from './contract';

/** SQLite rows hold at most 2 MB; chunks stay under it. */
const CHUNK_BYTES = 1_900_000;

export interface ReloadProbe {
  segments: number;
  rows: number;
  bytes: number;
  /** R2 gets and bodies of every segment, ms. */
  r2ReadMs: number;
  /** Writing the same bytes into the shard's SQLite (once), ms. */
  sqliteWriteMs: number;
  /** Reading them back from SQLite, ms. */
  sqliteReadMs: number;
  /** Decoding (checksums, dequantisation headers) every segment once, ms: the same after either read. */
  decodeMs: number;
}

export async function probeReload(
  sql: SqlStorage,
  storage: DurableObjectStorage,
  bucket: R2Bucket,
  search: Pick<ShardSearch, 'index' | 'catalogue'>,
  part: ShardPart,
): Promise<ReloadProbe> {
  const space = {
    model: search.catalogue.model,
    version: search.catalogue.version,
    dim: search.catalogue.dim,
  };
  let t = performance.now();
  const buffers = await Promise.all(
    part.segments.map(async (ref) => {
      const object = await bucket.get(ref.key);
      if (!object) throw new Error(`segment ${ref.id} is missing from R2`);
      return object.arrayBuffer();
    }),
  );
  const r2ReadMs = performance.now() - t;

  t = performance.now();
  for (const buffer of buffers) await decodeSegment(buffer, space);
  const decodeMs = performance.now() - t;

  sql.exec(
    'CREATE TABLE IF NOT EXISTS probe_chunks (segment TEXT, i INTEGER, bytes BLOB, PRIMARY KEY (segment, i))',
  );
  t = performance.now();
  storage.transactionSync(() => {
    sql.exec('DELETE FROM probe_chunks');
    part.segments.forEach((ref, s) => {
      const bytes = new Uint8Array(buffers[s] as ArrayBuffer);
      for (let i = 0, at = 0; at < bytes.byteLength; i++, at += CHUNK_BYTES) {
        sql.exec(
          'INSERT INTO probe_chunks VALUES (?, ?, ?)',
          ref.id,
          i,
          bytes.subarray(at, at + CHUNK_BYTES),
        );
      }
    });
  });
  await storage.sync();
  const sqliteWriteMs = performance.now() - t;

  t = performance.now();
  let read = 0;
  for (const ref of part.segments) {
    const chunks = sql
      .exec<{ bytes: ArrayBuffer }>('SELECT bytes FROM probe_chunks WHERE segment = ? ORDER BY i', ref.id)
      .toArray()
      .map((r) => new Uint8Array(r.bytes));
    const whole = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
    let at = 0;
    for (const c of chunks) {
      whole.set(c, at);
      at += c.byteLength;
    }
    read += whole.byteLength;
  }
  const sqliteReadMs = performance.now() - t;
  sql.exec('DROP TABLE probe_chunks');
  return {
    segments: part.segments.length,
    rows: part.segments.reduce((n, s) => n + s.count, 0),
    bytes: read,
    r2ReadMs,
    sqliteWriteMs,
    sqliteReadMs,
    decodeMs,
  };
}
