/**
 * Loading a model package folder (docs/model-package.md): the manifest parsed with the shared
 * schema, the sha256 of every file the encoder uses checked against it, the tokenizer built and
 * both towers loaded through the runtime module.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type ModelManifest, parseManifest, textTowerFile } from '../../core/manifest';
import { TextTokenizer } from '../../core/tokenizer';
import type { OnnxRuntime, OnnxSession } from './runtime';

export interface LoadedModel {
  id: string;
  version: string;
  dim: number;
  manifest: ModelManifest;
  image: OnnxSession;
  text: OnnxSession;
  textVariant: 'fp32' | 'int8';
  tokenizer: TextTokenizer;
}

/** Reads a package file, refusing it when its size or sha256 differ from the manifest. */
async function verifiedFile(dir: string, manifest: ModelManifest, file: string): Promise<Buffer> {
  const expected = manifest.files[file];
  if (!expected) throw new Error(`model ${manifest.id}: ${file} is not listed in manifest.files`);
  const bytes = await readFile(join(dir, file));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (bytes.length !== expected.bytes || sha256 !== expected.sha256) {
    throw new Error(
      `model ${manifest.id}: ${file} does not match the manifest (sha256 ${sha256}, ${bytes.length} bytes; ` +
        `expected ${expected.sha256}, ${expected.bytes} bytes)`,
    );
  }
  return bytes;
}

export async function readManifest(dir: string): Promise<ModelManifest> {
  return parseManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
}

/** The image tower's bytes (verified), used to probe the execution provider before loading. */
export async function readImageTower(dir: string, manifest: ModelManifest): Promise<Buffer> {
  return verifiedFile(dir, manifest, manifest.image.file);
}

export async function loadModelPackage(
  dir: string,
  runtime: OnnxRuntime,
  options: { textVariant?: 'fp32' | 'int8' } = {},
): Promise<LoadedModel> {
  const manifest = await readManifest(dir);
  const textVariant =
    options.textVariant && manifest.text.files[options.textVariant]
      ? options.textVariant
      : manifest.text.default_variant;
  const [imageBytes, textBytes, tokenizerBytes] = await Promise.all([
    verifiedFile(dir, manifest, manifest.image.file),
    verifiedFile(dir, manifest, textTowerFile(manifest, textVariant)),
    verifiedFile(dir, manifest, manifest.tokenizer.file),
  ]);
  const tokenizer = new TextTokenizer(
    JSON.parse(tokenizerBytes.toString('utf8')),
    manifest.tokenizer,
    manifest.text.max_length,
  );
  const image = await runtime.load(imageBytes);
  const text = await runtime.load(textBytes);
  return {
    id: manifest.id,
    version: manifest.version,
    dim: manifest.projection_dim,
    manifest,
    image,
    text,
    textVariant,
    tokenizer,
  };
}

/** Folders of `modelsDir` holding a manifest.json (the loadable packages), sorted. */
export async function listPackages(modelsDir: string): Promise<string[]> {
  const entries = await readdir(modelsDir, { withFileTypes: true });
  const ids: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const found = await stat(join(modelsDir, entry.name, 'manifest.json')).catch(() => undefined);
    if (found?.isFile()) ids.push(entry.name);
  }
  return ids.sort();
}
