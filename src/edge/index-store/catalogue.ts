/** Schemas of what the index keeps in KV: the catalogue of segments and one record per image. */
import { z } from 'zod';
import { ItemMetadataSchema } from '../../core/index-format/segment';

export const SegmentEntrySchema = z.object({
  id: z.string().min(1),
  key: z.string().min(1),
  etag: z.string().min(1),
  count: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  checksum: z.string().regex(/^[0-9a-f]{64}$/),
});
export type SegmentEntry = z.infer<typeof SegmentEntrySchema>;

export const CatalogueSchema = z.object({
  schema: z.literal(1),
  model: z.string().min(1),
  version: z.string().min(1),
  dim: z.number().int().positive(),
  encoding: z.enum(['int8', 'fp16']),
  /** Increments on every write; cursors and caches of the previous generation become stale. */
  generation: z.number().int().nonnegative(),
  count: z.number().int().nonnegative(),
  segments: z.array(SegmentEntrySchema),
  /** The previous generation's segments, kept for readers still holding its catalogue. */
  retired: z.array(SegmentEntrySchema).default([]),
  updated_at: z.string(),
});
export type Catalogue = z.infer<typeof CatalogueSchema>;

export const IndexRecordSchema = z.object({
  id: z.string().min(1),
  segment: z.string().min(1),
  row: z.number().int().nonnegative(),
  generation: z.number().int().nonnegative(),
  metadata: ItemMetadataSchema,
  caption: z.string().optional(),
});
export type IndexRecord = z.infer<typeof IndexRecordSchema>;
