/**
 * Reads a model package's demo set (`demo/index.json` + `demo/embeddings.f32`, see
 * docs/model-package.md) into index items. Shared by the seed script and the tests.
 */
import { z } from 'zod';
import { type ItemMetadata, ItemMetadataSchema } from '../../../src/core/index-format/segment';

export const DemoIndexSchema = z.object({
  model: z.string().min(1),
  version: z.string().min(1),
  dim: z.number().int().positive(),
  items: z.array(
    z.object({
      id: z.string().min(1),
      file: z.string(),
      caption: z.string().optional(),
      metadata: ItemMetadataSchema,
    }),
  ),
});
export type DemoIndex = z.infer<typeof DemoIndexSchema>;

export interface DemoItem {
  id: string;
  vector: Float32Array;
  metadata: ItemMetadata;
  caption?: string;
  /** The image file, relative to the demo folder. */
  file: string;
}

/** Pairs every demo item with its row of the float32 little-endian embeddings matrix. */
export function demoItems(
  indexJson: unknown,
  embeddings: ArrayBuffer | Uint8Array,
): { index: DemoIndex; items: DemoItem[] } {
  const index = DemoIndexSchema.parse(indexJson);
  const bytes = embeddings instanceof Uint8Array ? embeddings : new Uint8Array(embeddings);
  const expected = index.items.length * index.dim * 4;
  if (bytes.byteLength !== expected) {
    throw new Error(
      `demo embeddings have ${bytes.byteLength} bytes, expected ${expected} (${index.items.length} x ${index.dim} float32)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const items = index.items.map((item, row) => {
    const vector = new Float32Array(index.dim);
    for (let i = 0; i < index.dim; i++) vector[i] = view.getFloat32((row * index.dim + i) * 4, true);
    return {
      id: item.id,
      file: item.file,
      vector,
      metadata: item.metadata,
      ...(item.caption === undefined ? {} : { caption: item.caption }),
    };
  });
  return { index, items };
}
