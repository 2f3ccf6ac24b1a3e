/**
 * The image index, one capability: one index per (collection, model id, model version), its
 * vectors in immutable R2 segments, its records and catalogue owned by one writer.
 * - writer side (./writer/): the Durable Object that alone changes an index (records, catalogue
 *   and segments in its SQLite, ./writer/schema.ts), segment writing and compaction; callers reach
 *   it through `writerFor` and speak ./contract.ts;
 * - reader side (./reader.ts, ./segments.ts, ./segment-cache.ts): the strongly consistent catalogue
 *   view from the writer and the decoded segments a search, a score or a status needs, through the
 *   isolate's segment cache;
 * - search shards (Durable Objects holding parts of an index warm, issue 20) will live here too.
 * Callers outside this folder import from this file only. Storage keys are built in
 * ../storage-keys.ts; nothing here imports a feature folder.
 */
export type {
  AcceptedEvent,
  ApplyItem,
  CatalogueSegment,
  CatalogueView,
  CopiedImage,
  PlanItem,
  RecordView,
  WriterEvent,
} from './contract';
export { IndexReader, type LoadedIndex } from './reader';
export { IndexCorruptError } from './segments';
export { writerFor } from './writer/stub';
export { IndexWriter } from './writer/writer';
