/**
 * Seeds a running Worker with a model package's demo set (`models/<id>/demo/index.json`: file,
 * caption and metadata of each image) through the one write path: each image is uploaded
 * (`PUT /v1/images/:id`, multipart with its metadata and caption) by the bulk indexer
 * (scripts/index), which waits until every image is indexed. An image whose status already says
 * indexed with the same bytes, metadata and caption is skipped, so a restart re-seeds nothing.
 * `npm start` runs it once the encoder and the Worker are up.
 *
 *   npm run seed:demo -- [--url http://127.0.0.1:8787] [--model koclip-tiny] [--collection default]
 *                        [--token ADMIN_TOKEN] [--concurrency 4] [--progress auto|bar|lines|none]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_COLLECTION } from '../src/core/contract/ids';
import { ImageMetadataSchema } from '../src/core/contract/ingest-schemas';
import { parseManifest } from '../src/core/manifest';
import { readDevVars } from './index/dev-vars';
import type { UploadItem } from './index/inputs';
import { createProgress, type ProgressMode } from './index/progress';
import { formatSummary, runIndex } from './index/run';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.KOCLIP_URL ?? 'http://127.0.0.1:8787' },
    model: { type: 'string', default: 'koclip-tiny' },
    collection: { type: 'string', default: DEFAULT_COLLECTION },
    token: { type: 'string' },
    concurrency: { type: 'string', default: '4' },
    progress: { type: 'string', default: 'auto' },
  },
});

const root = join(import.meta.dirname, '..');
const pkg = join(root, 'models', values.model);
const manifest = parseManifest(JSON.parse(readFileSync(join(pkg, 'manifest.json'), 'utf8')));
const demoSet = manifest.demo;
if (!demoSet) throw new Error(`model ${manifest.id} has no demo set`);
const demo = JSON.parse(readFileSync(join(pkg, demoSet.index), 'utf8')) as {
  model: string;
  version: string;
  items: { id: string; file: string; caption?: string; metadata?: unknown }[];
};
if (demo.model !== manifest.id || demo.version !== manifest.version) {
  throw new Error(
    `demo set is for ${demo.model}@${demo.version}, the package is ${manifest.id}@${manifest.version}`,
  );
}
const items: UploadItem[] = demo.items.map((item) => ({
  kind: 'upload',
  id: item.id,
  collection: values.collection,
  file: join(pkg, item.file),
  ...(item.metadata === undefined ? {} : { metadata: ImageMetadataSchema.parse(item.metadata) }),
  ...(item.caption === undefined ? {} : { caption: item.caption }),
  source: `${demoSet.index}:${item.id}`,
}));

const token = values.token ?? process.env.ADMIN_TOKEN ?? readDevVars().ADMIN_TOKEN;
process.stderr.write(
  `seeding ${items.length} demo images of ${manifest.id}@${manifest.version} into ${values.url}\n`,
);
const summary = await runIndex(items, {
  url: values.url,
  token,
  concurrency: Number(values.concurrency),
  skipIndexed: true,
  wait: true,
  waitTimeoutS: 600,
  progress: createProgress(values.progress as ProgressMode),
});
console.log(formatSummary(summary));
process.exit(summary.failed.length || summary.pending || summary.fatal ? 1 : 0);
