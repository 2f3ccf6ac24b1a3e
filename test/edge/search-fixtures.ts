/** The koclip-tiny demo set as index items, and seeding it into the Worker's real local bindings. */
import demoEmbeddings from '../../models/koclip-tiny/demo/embeddings.f32';
import demoIndexJson from '../../models/koclip-tiny/demo/index.json';
import manifestJson from '../../models/koclip-tiny/manifest.json';
import { parseManifest } from '../../src/core/manifest';
import type { SegmentEncoding } from '../../src/core/segment';
import type { Env } from '../../src/edge/env';
import { demoItems } from '../../src/edge/index-store/demo';
import { IndexStore } from '../../src/edge/index-store/store';

export const manifest = parseManifest(manifestJson);
export const demo = demoItems(demoIndexJson, demoEmbeddings);
export const space = { model: manifest.id, version: manifest.version };

export function demoStore(env: Env): IndexStore {
  return new IndexStore({ bucket: env.INDEX_BUCKET, kv: env.INDEX_KV }, space);
}

/** Writes the whole demo set as the index of koclip-tiny's current version. */
export async function seedDemo(env: Env, options: { encoding?: SegmentEncoding; segmentSize?: number } = {}) {
  return demoStore(env).replace(demo.items, { dim: manifest.projection_dim, ...options });
}
