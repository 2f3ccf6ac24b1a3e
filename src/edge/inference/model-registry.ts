/**
 * Where models come from, and the one place a request looks one up. Small models are bundled
 * with the Worker (manifest, tokenizer and the default text tower); anything else is read from
 * MODELS_BUCKET: `models/<id>/manifest.json` names the current version and the files sit under
 * `models/<id>/<version>/<path>`, checked against the manifest's sha256 on load.
 *
 * `loadModel` hands out one LoadedModel (./loaded-model.ts) per (model, version, text variant)
 * and isolate: a request resolves its model once and passes the handle down. `getModel` answers
 * a manifest alone (the model list, health). Every look-up is counted (`registryStats`), so a
 * test can hold a request to one.
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
  textVariants,
} from '../../core/manifest';
import { TextTokenizer } from '../../core/tokenizer';
import type { Env } from '../env';
import { ApiError } from '../http/errors';
import { LoadedModel, type TextTowerFiles, type TextVariant } from './loaded-model';

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
  tokenizer?: Promise<TextTokenizer>;
}

const loaded = new Map<string, Loaded>();
/** The current handle per `id:variant`, for as long as its manifest entry is current. */
const handles = new Map<string, LoadedModel>();
let lookups = 0;

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

/** One look-up of a model: counted, then the cached or freshly read manifest. */
function lookUp(env: Env, id: string): Promise<Loaded> {
  lookups++;
  return load(env, id);
}

/** The manifest of a model (404 `unknown_model` when neither the bundle nor R2 has it). */
export async function getModel(env: Env, id: string): Promise<ModelManifest> {
  return (await lookUp(env, id)).manifest;
}

/**
 * The model a request uses: its manifest, the text variant (the manifest's default unless asked;
 * 400 `unknown_variant` when the package has no such tower) and its files, as one handle that
 * stays the same object for as long as the package does (404 `unknown_model` when unknown).
 */
export async function loadModel(env: Env, id: string, variant?: TextVariant): Promise<LoadedModel> {
  const entry = await lookUp(env, id);
  const { manifest } = entry;
  const chosen = requireTextVariant(manifest, variant ?? manifest.text.default_variant);
  // A manifest read again (an R2 package after its TTL) gets a new handle; the tokenizer of the
  // same version and the session of the same tower (keyed by identity) carry over.
  const key = `${id}:${chosen}`;
  const current = handles.get(key);
  if (current?.manifest === manifest) return current;
  const handle = new LoadedModel(manifest, chosen, {
    tokenizer: (e) => tokenizerOf(e, entry),
    textTower: (e, v) => textTowerOf(e, entry, v),
  });
  handles.set(key, handle);
  return handle;
}

/** `variant` when `manifest`'s package ships that text tower; else 400 `unknown_variant` naming those it ships. */
export function requireTextVariant(manifest: ModelManifest, variant: TextVariant): TextVariant {
  if (manifest.text.files[variant]) return variant;
  throw new ApiError(
    400,
    'unknown_variant',
    `model ${manifest.id} has no ${variant} text tower; it has ${textVariants(manifest).join(', ')}`,
  );
}

/** Look-ups since the isolate started (or the last reset), for tests and the debug routes. */
export function registryStats(): { lookups: number } {
  return { lookups };
}

/** @internal tests: counts look-ups from zero. */
export function resetRegistryStats(): void {
  lookups = 0;
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

/** The tokeniser of a package, built once per model version. */
function tokenizerOf(env: Env, entry: Loaded): Promise<TextTokenizer> {
  if (!entry.tokenizer) {
    const pending = (async () => {
      const { manifest } = entry;
      const json =
        entry.source === 'bundle'
          ? BUNDLED[manifest.id]?.tokenizer
          : JSON.parse(new TextDecoder().decode(await readFile(env, entry, manifest.tokenizer.file)));
      return new TextTokenizer(json, manifest.tokenizer, manifest.text.max_length);
    })();
    entry.tokenizer = pending;
    // A failed read is not kept: the next request tries again.
    pending.catch(() => {
      if (entry.tokenizer === pending) entry.tokenizer = undefined;
    });
  }
  return entry.tokenizer;
}

/** The ONNX files of a package's text tower, each checked against the manifest's sha256. */
async function textTowerOf(env: Env, entry: Loaded, variant: TextVariant): Promise<TextTowerFiles> {
  const { manifest } = entry;
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
