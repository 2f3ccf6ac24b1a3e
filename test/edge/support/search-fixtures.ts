/** The koclip-tiny demo set as index items, and seeding it into the Worker's real local bindings. */
import { env } from 'cloudflare:workers';
import demoEmbeddings from '../../../models/koclip-tiny/demo/embeddings.f32';
import demo0001 from '../../../models/koclip-tiny/demo/images/demo-0001.png';
import demo0005 from '../../../models/koclip-tiny/demo/images/demo-0005.png';
import demo0013 from '../../../models/koclip-tiny/demo/images/demo-0013.png';
import demoIndexJson from '../../../models/koclip-tiny/demo/index.json';
import manifestJson from '../../../models/koclip-tiny/manifest.json';
import type { IndexKey } from '../../../src/core/contract/spaces';
import type { SegmentEncoding } from '../../../src/core/index-format/segment';
import { parseManifest } from '../../../src/core/manifest';
import type { Env } from '../../../src/edge/env';
import { IndexReader, writerFor } from '../../../src/edge/index';
import type { WriterSpace } from '../../../src/edge/index/writer/writer';
import { demoItems } from './demo-items';
import { installEncoderStandIn, type StandIn, sha256Hex } from './encoder-stand-in';

export const manifest = parseManifest(manifestJson);
export const demo = demoItems(demoIndexJson, demoEmbeddings);
export const space = { model: manifest.id, version: manifest.version };
/** The index the demo set is seeded into: the default collection of koclip-tiny's version. */
export const demoIndex = { collection: 'default', ...space };

export function demoStore(env: Env): IndexReader {
  return new IndexReader(env, demoIndex);
}

/**
 * Writes the demo set (or its first `count` items) through the index writer (the one write
 * path), with the demo embeddings the model kit computed instead of calls to the encoder; into
 * koclip-tiny's default collection unless another model id (the same embedding space under
 * another name) or collection is given.
 */
export async function seedDemo(
  env: Env,
  options: { encoding?: SegmentEncoding; model?: string; collection?: string; count?: number } = {},
) {
  const { model = manifest.id, collection = 'default', count = demo.items.length, encoding } = options;
  const index = { collection, model, version: manifest.version };
  const writer = writerFor(env, index);
  const accepted = await writer.accept(
    { ...index, dim: manifest.projection_dim, ...(encoding ? { encoding } : {}) },
    demo.items.slice(0, count).map((item) => ({
      op: 'upsert' as const,
      id: item.id,
      source: { r2_key: `demo/${item.file}` },
      metadata: item.metadata,
      ...(item.caption === undefined ? {} : { caption: item.caption }),
    })),
  );
  return writer.apply(
    accepted.map((a, i) => ({
      id: a.id,
      seq: a.seq,
      vector: Array.from(demo.items[i]?.vector as Float32Array),
      content_sha256: `demo-embedding-${i}`,
    })),
  );
}

/** A vector to write, with what its upsert carries. */
export interface VectorItem {
  id: string;
  vector: Float32Array;
  metadata?: Record<string, string | number | boolean | null>;
}

/**
 * Writes vectors through an index's writer as the queue consumer would (one `accept` and one
 * `apply`), in the koclip-tiny embedding space unless `space` says more (segment and shard rows,
 * encoding, another dim).
 */
export async function writeVectors(
  env: Env,
  index: IndexKey,
  items: readonly VectorItem[],
  space: Partial<Omit<WriterSpace, keyof IndexKey>> = {},
) {
  const writer = writerFor(env, index);
  const accepted = await writer.accept(
    { ...index, dim: manifest.projection_dim, ...space },
    items.map((item) => ({
      op: 'upsert' as const,
      id: item.id,
      source: { r2_key: `t/${item.id}` },
      metadata: item.metadata ?? {},
    })),
  );
  return writer.apply(
    accepted.map((a, i) => ({
      id: a.id,
      seq: a.seq,
      vector: Array.from((items[i] as VectorItem).vector),
      content_sha256: `h-${a.id}-${a.seq}`,
    })),
  );
}

/** Demo images available to tests as bytes, by id. */
export const demoImages: Record<string, ArrayBuffer> = {
  'demo-0001': demo0001,
  'demo-0005': demo0005,
  'demo-0013': demo0013,
};

export const ENCODER_BASE = 'http://encoder.test';
export const ENCODER_TOKEN = 'test-encoder-token';

export function demoVector(id: string): Float32Array {
  const item = demo.items.find((i) => i.id === id);
  if (!item) throw new Error(`no demo item ${id}`);
  return item.vector as Float32Array;
}

/** The image a URL stand-in serves: `https://images.test/<id>.png` for every demo item. */
export const demoUrl = (id: string) => `https://images.test/${id}.png`;

/** Cells of the grid the stand-in answers for demo-0013 (`?grid=2x3`): demo embeddings by id. */
export const GRID_CELLS = ['demo-0000', 'demo-0001', 'demo-0002', 'demo-0003', 'demo-0004', 'demo-0005'];

/** Installs the encoder stand-in, knowing the demo images (bytes and URLs) by their demo embeddings. */
export async function installDemoEncoder(): Promise<StandIn> {
  const images = new Map<string, Float32Array>();
  for (const [id, bytes] of Object.entries(demoImages)) images.set(await sha256Hex(bytes), demoVector(id));
  const urls = new Map(demo.items.map((i) => [demoUrl(i.id), i.vector as Float32Array]));
  const grids = new Map([
    [await sha256Hex(demo0013), GRID_CELLS.map(demoVector)],
    [demoUrl('demo-0013'), GRID_CELLS.map(demoVector)],
  ]);
  return installEncoderStandIn({
    baseUrl: ENCODER_BASE,
    token: ENCODER_TOKEN,
    model: { id: manifest.id, version: manifest.version, dim: manifest.projection_dim },
    images,
    urls,
    grids,
  });
}

/** Seeds the demo index unless this embedding space already holds exactly it. */
export async function seedDemoOnce(): Promise<void> {
  const current = await demoStore(env).catalogue();
  if (current?.count === demo.items.length) return;
  await seedDemo(env);
}
