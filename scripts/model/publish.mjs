#!/usr/bin/env node
// Puts a model package where the Worker reads it: R2 bucket MODELS_BUCKET (wrangler.toml), keys
// `models/<id>/<version>/<file>` and `models/<id>/manifest.json` (src/edge/inference/model-registry.ts).
//   npm run model:publish -- models/<id> (--local [--persist-to DIR] | --remote) [--bucket NAME]
// Uploads only what the Worker reads: the tokenizer and, for an `edge` text tower, its default
// variant (with its external data file when it has one). The image towers (and a `function` text tower) belong on the encoder host
// (ENCODER_MODELS_DIR, docs/deploy.md). Every file is checked against the manifest's sha256 first,
// and the manifest goes last, so a Worker never sees a version whose files are not all there;
// an interrupted run leaves the previous version served.
// Hand-written because it is a loop over `wrangler r2 object put` (the maintained uploader).
// Exit 0: published. Exit 1: an upload failed. Exit 2: bad input.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const USAGE =
  'usage: npm run model:publish -- models/<id> (--local [--persist-to DIR] | --remote) [--bucket NAME]';
const MODEL_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

function fail(message, code = 2) {
  console.error(`model:publish: ${message}`);
  process.exit(code);
}

let parsed;
try {
  parsed = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      local: { type: 'boolean' },
      remote: { type: 'boolean' },
      'persist-to': { type: 'string' },
      bucket: { type: 'string' },
    },
  });
} catch (err) {
  fail(`${err.message}\n${USAGE}`);
}
const { values: opts, positionals } = parsed;
if (positionals.length !== 1) fail(USAGE);
if (Boolean(opts.local) === Boolean(opts.remote)) fail(`give exactly one of --local or --remote\n${USAGE}`);
if (opts['persist-to'] && !opts.local) fail('--persist-to goes with --local');

const dir = resolve(positionals[0]);
const manifestPath = join(dir, 'manifest.json');
if (!existsSync(manifestPath)) fail(`${positionals[0]} has no manifest.json`);
let manifest;
try {
  manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
} catch (err) {
  fail(`${manifestPath} is not JSON: ${err.message}`);
}
const { id, version } = manifest;
if (typeof id !== 'string' || !MODEL_ID.test(id)) fail(`manifest id ${JSON.stringify(id)} is not a model id`);
if (typeof version !== 'string' || !version || version.includes('/'))
  fail(`manifest version ${JSON.stringify(version)} is not usable in a key`);

const bucket = opts.bucket ?? bucketFromWranglerToml();
const files = [manifest.tokenizer?.file];
if (manifest.text?.placement === 'edge') {
  const variant = manifest.text.default_variant;
  files.push(manifest.text.files?.[variant]);
  // Its weights, when the tower keeps them as ONNX external data (text.external_data).
  const data = manifest.text.external_data?.[variant];
  if (data !== undefined) files.push(data);
}
for (const rel of files) {
  if (typeof rel !== 'string')
    fail('the manifest names no tokenizer file, no default text tower file or no usable external data file');
  const path = join(dir, rel);
  if (!existsSync(path) || !statSync(path).isFile()) fail(`${rel} is missing from ${positionals[0]}`);
  const expected = manifest.files?.[rel]?.sha256;
  const actual = createHash('sha256').update(readFileSync(path)).digest('hex');
  if (expected !== actual) fail(`${rel} does not match the manifest's sha256 (${actual} != ${expected})`);
}

const where = opts.local
  ? ['--local', ...(opts['persist-to'] ? ['--persist-to', resolve(opts['persist-to'])] : [])]
  : ['--remote'];
const wrangler = join(ROOT, 'node_modules/.bin/wrangler');
const put = (key, file, contentType) => {
  const run = spawnSync(
    wrangler,
    ['r2', 'object', 'put', `${bucket}/${key}`, '--file', file, '--content-type', contentType, ...where],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (run.status !== 0) fail(`uploading ${key} failed:\n${run.stderr || run.stdout}`, 1);
  console.log(`model:publish: ${bucket}/${key}`);
};
for (const rel of files) {
  put(
    `models/${id}/${version}/${rel}`,
    join(dir, rel),
    rel.endsWith('.json') ? 'application/json' : 'application/octet-stream',
  );
}
put(`models/${id}/manifest.json`, manifestPath, 'application/json');
console.log(`model:publish: ${id}@${version} published (${opts.local ? 'local' : 'remote'} ${bucket})`);

function bucketFromWranglerToml() {
  const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
  const match = /binding\s*=\s*"MODELS_BUCKET"\s*\n\s*bucket_name\s*=\s*"([^"]+)"/.exec(toml);
  if (!match) fail('wrangler.toml has no MODELS_BUCKET binding; give --bucket');
  return match[1];
}
