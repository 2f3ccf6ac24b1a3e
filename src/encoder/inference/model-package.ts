/**
 * Loading a model package folder (docs/model-package.md): the manifest parsed with the shared
 * schema, the image tower variant chosen for the host (fp16 on the CUDA provider when the package
 * has one), the text tower variant (ENCODER_TEXT_VARIANT, else the manifest's default) and its
 * identity, the sha256 of every file the encoder uses checked against it (a text tower's external
 * data file included), the tokenizer built and both towers loaded through the runtime module.
 *
 * The package's other text variant is loaded on the first request that names it (`?text_variant=`:
 * the Worker's /v1/score asks for fp32 by default) and kept for the life of the process, on every
 * runner like the others: it costs about 1.8x its file per runner in memory (klue/roberta-large:
 * about 2.4 GB fp32 beside 0.6 GB int8; docs/encoder-contract.md), so a host that never sees such
 * a request never pays it. A failed load is not kept: the next request tries again.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  imageTowerFile,
  type ModelManifest,
  parseManifest,
  type TextVariant,
  textTowerExternalData,
  textTowerFile,
  textTowerIdentity,
  textVariants,
} from '../../core/manifest';
import { TextTokenizer } from '../../core/tokenizer';
import { EncoderError } from '../http/errors';
import type { OnnxRuntime, OnnxSession, Provider } from './runtime';

export type ImageVariant = 'fp32' | 'fp16';
/** ENCODER_IMAGE_VARIANT: `auto` is fp16 on the CUDA provider when the package has it, else fp32. */
export type ImageVariantSetting = 'auto' | ImageVariant;

/** One text tower of a package, loaded. */
export interface TextTowerSession {
  variant: TextVariant;
  /** Which text tower this is (core/manifest.ts textTowerIdentity): every text answer names it. */
  tower: string;
  session: OnnxSession;
}

export interface LoadedModel {
  id: string;
  version: string;
  dim: number;
  manifest: ModelManifest;
  image: OnnxSession;
  imageVariant: ImageVariant;
  /** The default text tower (ENCODER_TEXT_VARIANT, else the manifest's), loaded at startup. */
  text: OnnxSession;
  textVariant: TextVariant;
  /** The default text tower's identity (core/manifest.ts textTowerIdentity). */
  textTower: string;
  /**
   * The text tower of `variant`: the default one, or another the package ships, loaded on first
   * use and kept; 400 `unknown_variant` for one it does not ship.
   */
  textTowerOf(variant: TextVariant): Promise<TextTowerSession>;
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

/**
 * The image tower variant to run: `auto` takes fp16 only on the CUDA provider (the file is meant
 * for GPU hosts) and only when the package lists one; on the CPU provider fp16 runs only when
 * forced. A forced fp16 that the package lacks is an error (packages written by
 * `koclip_kit export`, koclip-tiny among them, have none).
 */
export function chooseImageVariant(
  manifest: ModelManifest,
  setting: ImageVariantSetting,
  provider: Provider,
): { variant: ImageVariant; file: string } {
  const fp16 = manifest.image.files?.fp16;
  if (setting === 'fp16' && !fp16) {
    throw new Error(
      `model ${manifest.id}: ENCODER_IMAGE_VARIANT=fp16, but the package has no fp16 image tower ` +
        '(manifest image.files.fp16); use auto or fp32, or convert the checkpoint with koclip_kit convert',
    );
  }
  if (fp16 && (setting === 'fp16' || (setting === 'auto' && provider === 'cuda'))) {
    return { variant: 'fp16', file: fp16 };
  }
  return { variant: 'fp32', file: imageTowerFile(manifest, 'fp32') };
}

/** The image tower must take float32 `pixel_values` and give float32 `image_embeds` (the fp16
 * files of koclip_kit convert cast inside the graph); anything else is refused at startup. */
function checkImageIo(manifest: ModelManifest, file: string, session: OnnxSession): void {
  for (const name of ['pixel_values', 'image_embeds']) {
    const type = session.types[name];
    if (type !== 'float32') {
      throw new Error(
        `model ${manifest.id}: ${file} has ${type ? `${type} ${name}` : `no ${name}`}; the encoder ` +
          'feeds float32 pixel_values and reads float32 image_embeds (an fp16 tower casts inside the graph)',
      );
    }
  }
}

export async function loadModelPackage(
  dir: string,
  runtime: OnnxRuntime,
  options: { textVariant?: TextVariant; imageVariant?: ImageVariantSetting } = {},
): Promise<LoadedModel> {
  const manifest = await readManifest(dir);
  const textVariant =
    options.textVariant && manifest.text.files[options.textVariant]
      ? options.textVariant
      : manifest.text.default_variant;
  const image = chooseImageVariant(manifest, options.imageVariant ?? 'auto', runtime.info.active);
  const [imageBytes, tokenizerBytes] = await Promise.all([
    verifiedFile(dir, manifest, image.file),
    verifiedFile(dir, manifest, manifest.tokenizer.file),
  ]);
  const tokenizer = new TextTokenizer(
    JSON.parse(tokenizerBytes.toString('utf8')),
    manifest.tokenizer,
    manifest.text.max_length,
  );
  const imageSession = await runtime.load(imageBytes);
  checkImageIo(manifest, image.file, imageSession);
  const text = await loadTextTower(dir, manifest, runtime, textVariant);
  const towers = new Map<TextVariant, Promise<TextTowerSession>>([[textVariant, Promise.resolve(text)]]);
  const textTowerOf = (variant: TextVariant): Promise<TextTowerSession> => {
    if (!manifest.text.files[variant]) {
      const has = textVariants(manifest).join(', ');
      throw new EncoderError(
        400,
        'unknown_variant',
        `model ${manifest.id} has no ${variant} text tower; it has ${has}`,
      );
    }
    let tower = towers.get(variant);
    if (!tower) {
      const started = performance.now();
      tower = loadTextTower(dir, manifest, runtime, variant);
      towers.set(variant, tower);
      tower.then(
        () =>
          console.log(
            `encoder: loaded the ${variant} text tower of ${manifest.id} on first use ` +
              `(${Math.round(performance.now() - started)} ms)`,
          ),
        () => towers.delete(variant),
      );
    }
    return tower;
  };
  return {
    id: manifest.id,
    version: manifest.version,
    dim: manifest.projection_dim,
    manifest,
    image: imageSession,
    imageVariant: image.variant,
    text: text.session,
    textVariant,
    textTower: text.tower,
    textTowerOf,
    tokenizer,
  };
}

/** Loads one text tower of a package, its files (external data included) checked first. */
async function loadTextTower(
  dir: string,
  manifest: ModelManifest,
  runtime: OnnxRuntime,
  variant: TextVariant,
): Promise<TextTowerSession> {
  const file = textTowerFile(manifest, variant);
  const data = textTowerExternalData(manifest, variant);
  const [bytes] = await Promise.all([
    verifiedFile(dir, manifest, file),
    // Checked here; onnxruntime-node then reads it from its folder itself (it takes no bytes).
    ...(data ? [verifiedFile(dir, manifest, data)] : []),
  ]);
  const session = await runtime.load(bytes, data ? { externalDataFolder: resolve(dir, dirname(file)) } : {});
  return { variant, tower: textTowerIdentity(manifest, variant), session };
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
