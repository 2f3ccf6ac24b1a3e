/**
 * Where model packages come from. Small models are bundled with the Worker (manifest,
 * tokenizer and the default text tower); anything else is read from MODELS_BUCKET:
 * `models/<id>/manifest.json` names the current version and the files sit under
 * `models/<id>/<version>/<path>`, checked against the manifest's sha256 on load.
 */

import tinyManifest from '../../../models/koclip-tiny/manifest.json';
import tinyTextInt8 from '../../../models/koclip-tiny/text-int8.onnx';
import tinyTokenizer from '../../../models/koclip-tiny/tokenizer.json';
import { isModelId } from '../../core/contract/ids';
import { sha256Hex } from '../../core/hash';
import {
  externalDataName,
  type ModelManifest,
  parseManifest,
  textTowerExternalData,
  textTowerFile,
} from '../../core/manifest';
import { TextTokenizer } from '../../core/tokenizer';
import type { Env } from '../env';
import { ApiError } from '../http/errors';

export type TextVariant = 'fp32' | 'int8';

interface BundledModel {
  manifest: unknown;
  tokenizer: unknown;
  /** Package-relative path -> bytes of the files shipped in the bundle. */
  files: Record<string, ArrayBuffer>;
}

const BUNDLED: Record<string, BundledModel> = {
  'koclip-tiny': {
    manifest: tinyManifest,
    tokenizer: tinyTokenizer,
    files: { 'text-int8.onnx': tinyTextInt8 },
  },
};

/** How long an R2 manifest is trusted before it is read again (a new version may land). */
const R2_MANIFEST_TTL_MS = 60_000;

/** R2 key of a model package's manifest. */
export function modelManifestKey(id: string): string {
  return `models/${id}/manifest.json`;
}

/** R2 key of a file of one version of a model package. */
export function modelFileKey(manifest: Pick<ModelManifest, 'id' | 'version'>, path: string): string {
  return `models/${manifest.id}/${manifest.version}/${path}`;
}

interface Loaded {
  manifest: ModelManifest;
  source: 'bundle' | 'r2';
  loadedAt: number;
  tokenizer?: TextTokenizer;
}

const loaded = new Map<string, Loaded>();

function fromBundle(id: string): Loaded | undefined {
  const bundled = BUNDLED[id];
  if (!bundled) return undefined;
  const manifest = parseManifest(bundled.manifest);
  if (manifest.id !== id) throw new Error(`bundled model ${id} has manifest id ${manifest.id}`);
  return { manifest, source: 'bundle', loadedAt: Date.now() };
}

async function fromBucket(env: Env, id: string): Promise<Loaded | undefined> {
  const object = await env.MODELS_BUCKET.get(modelManifestKey(id));
  if (!object) return undefined;
  try {
    const manifest = parseManifest(JSON.parse(await object.text()));
    if (manifest.id !== id) throw new Error(`R2 manifest of ${id} has id ${manifest.id}`);
    return { manifest, source: 'r2', loadedAt: Date.now() };
  } catch (cause) {
    throw new ApiError(503, 'model_unavailable', `the package of model ${id} is invalid`, { cause });
  }
}

async function load(env: Env, id: string): Promise<Loaded> {
  if (!isModelId(id)) throw new ApiError(404, 'unknown_model', 'unknown model id');
  const cached = loaded.get(id);
  if (cached && (cached.source === 'bundle' || Date.now() - cached.loadedAt < R2_MANIFEST_TTL_MS)) {
    return cached;
  }
  const found = fromBundle(id) ?? (await fromBucket(env, id));
  if (!found) throw new ApiError(404, 'unknown_model', `unknown model '${id}'`);
  if (cached && cached.manifest.version === found.manifest.version) found.tokenizer = cached.tokenizer;
  loaded.set(id, found);
  return found;
}

/** The manifest of a model (404 `unknown_model` when neither the bundle nor R2 has it). */
export async function getModel(env: Env, id: string): Promise<ModelManifest> {
  return (await load(env, id)).manifest;
}

/** The ids of every model the Worker can serve: the bundled ones, then those in R2. */
export async function listModelIds(env: Env): Promise<string[]> {
  const ids = new Set(Object.keys(BUNDLED));
  let cursor: string | undefined;
  do {
    const page = await env.MODELS_BUCKET.list({ prefix: 'models/', delimiter: '/', cursor });
    for (const prefix of page.delimitedPrefixes) {
      const id = prefix.slice('models/'.length, -1);
      if (isModelId(id)) ids.add(id);
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return [...ids];
}

async function readFile(env: Env, entry: Loaded, path: string): Promise<ArrayBuffer> {
  const bundled = entry.source === 'bundle' ? BUNDLED[entry.manifest.id]?.files[path] : undefined;
  if (bundled) return bundled;
  const object = await env.MODELS_BUCKET.get(modelFileKey(entry.manifest, path));
  if (!object) {
    throw new ApiError(503, 'model_unavailable', `model ${entry.manifest.id} is missing its file ${path}`);
  }
  const bytes = await object.arrayBuffer();
  const expected = entry.manifest.files[path]?.sha256;
  const actual = await sha256Hex(bytes);
  if (expected !== actual) {
    throw new ApiError(
      503,
      'model_unavailable',
      `model ${entry.manifest.id} file ${path} fails its checksum`,
    );
  }
  return bytes;
}

/** The tokeniser of a model, built once per model version. */
export async function getTokenizer(env: Env, id: string): Promise<TextTokenizer> {
  const entry = await load(env, id);
  if (!entry.tokenizer) {
    const { manifest } = entry;
    const json =
      entry.source === 'bundle'
        ? BUNDLED[id]?.tokenizer
        : JSON.parse(new TextDecoder().decode(await readFile(env, entry, manifest.tokenizer.file)));
    entry.tokenizer = new TextTokenizer(json, manifest.tokenizer, manifest.text.max_length);
  }
  return entry.tokenizer;
}

/** A text tower as onnxruntime takes it: the graph's bytes and, when its weights are kept as
 * ONNX external data, that file under the name the graph gives it. */
export interface TextTowerFiles {
  model: Uint8Array;
  externalData?: { path: string; data: Uint8Array }[];
}

/** The ONNX files of a model's text tower (the manifest's default variant unless asked), each
 * checked against the manifest's sha256. */
export async function getTextTower(
  env: Env,
  manifest: ModelManifest,
  variant: TextVariant = manifest.text.default_variant,
): Promise<TextTowerFiles> {
  if (!manifest.text.files[variant]) {
    throw new ApiError(400, 'unknown_variant', `model ${manifest.id} has no ${variant} text tower`);
  }
  const entry = await load(env, manifest.id);
  const dataFile = textTowerExternalData(manifest, variant);
  const [model, data] = await Promise.all([
    readFile(env, entry, textTowerFile(manifest, variant)),
    dataFile ? readFile(env, entry, dataFile) : undefined,
  ]);
  return {
    model: new Uint8Array(model),
    ...(dataFile && data
      ? { externalData: [{ path: externalDataName(dataFile), data: new Uint8Array(data) }] }
      : {}),
  };
}
