/**
 * Seeds the local image index of `wrangler dev` with a model package's demo set
 * (`models/<id>/demo/index.json` + `embeddings.f32`), through the same IndexStore code the Worker
 * reads with. The bindings come from wrangler's getPlatformProxy, which uses wrangler dev's local
 * persistence (`.wrangler/state` by default), so a later `wrangler dev` sees the index.
 *
 *   npm run seed:demo -- [--model koclip-tiny] [--encoding fp16|int8] [--persist-to DIR]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { getPlatformProxy } from 'wrangler';
import { parseManifest } from '../src/core/manifest';
import type { Env } from '../src/edge/env';
import { demoItems } from '../src/edge/index-store/demo';
import { catalogueKey } from '../src/edge/index-store/keys';
import { IndexStore } from '../src/edge/index-store/store';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'koclip-tiny' },
    encoding: { type: 'string', default: 'fp16' },
    'persist-to': { type: 'string' },
  },
});
const encoding = values.encoding;
if (encoding !== 'fp16' && encoding !== 'int8') throw new Error('--encoding must be fp16 or int8');

const root = join(import.meta.dirname, '..');
const pkg = join(root, 'models', values.model);
const manifest = parseManifest(JSON.parse(readFileSync(join(pkg, 'manifest.json'), 'utf8')));
if (!manifest.demo) throw new Error(`model ${manifest.id} has no demo set`);
const indexJson = JSON.parse(readFileSync(join(pkg, manifest.demo.index), 'utf8'));
const { index, items } = demoItems(indexJson, readFileSync(join(pkg, manifest.demo.embeddings)));
if (
  index.model !== manifest.id ||
  index.version !== manifest.version ||
  index.dim !== manifest.projection_dim
) {
  throw new Error(
    `demo set is for ${index.model}@${index.version} (dim ${index.dim}), the package is ${manifest.id}@${manifest.version} (dim ${manifest.projection_dim})`,
  );
}

// Same meaning as `wrangler dev --persist-to DIR`, which keeps its state under DIR/v3.
const persist = values['persist-to'] ? { path: join(values['persist-to'], 'v3') } : true;
const proxy = await getPlatformProxy<Env>({ configPath: join(root, 'wrangler.toml'), persist });
try {
  const space = { model: manifest.id, version: manifest.version };
  const store = new IndexStore({ bucket: proxy.env.INDEX_BUCKET, kv: proxy.env.INDEX_KV }, space);
  const started = performance.now();
  const catalogue = await store.replace(items, { dim: manifest.projection_dim, encoding });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const bytes = catalogue.segments.reduce((sum, s) => sum + s.bytes, 0);
  console.log(
    `seeded ${catalogue.count} demo images of ${manifest.id}@${manifest.version} (${encoding}, ` +
      `${catalogue.segments.length} segment(s), ${bytes} bytes, generation ${catalogue.generation}) in ${seconds} s`,
  );
  console.log(
    `catalogue: KV ${catalogueKey(space)}; persistence: ${values['persist-to'] ?? '.wrangler/state (wrangler dev default)'}`,
  );
} finally {
  await proxy.dispose();
}
