import { z } from 'zod';
import { MODEL_ID_PATTERN, Sha256HexSchema } from './contract/ids';
import type { EmbeddingSpace } from './contract/spaces';

/** Format tag written by the model kit; bump when the package layout changes incompatibly. */
export const MODEL_FORMAT = 'koclip-model/1';

const RelativePath = z
  .string()
  .min(1)
  .refine(
    (p) => !p.startsWith('/') && !p.split('/').includes('..'),
    'must be a relative path inside the package',
  );

const Rgb = z.tuple([z.number(), z.number(), z.number()]);

export const ModelManifestSchema = z.object({
  format: z.literal(MODEL_FORMAT),
  id: z.string().regex(MODEL_ID_PATTERN, 'model id: lowercase letters, digits, . _ -'),
  version: z.string().min(1),
  description: z.string().default(''),
  projection_dim: z.number().int().positive(),
  /** Raw learned scalar: logits = exp(logit_scale) * cosine. */
  logit_scale: z.number().finite(),
  prompt_template: z.string().includes('{}').default('이것은 {} 이다.'),
  tokenizer: z.object({
    file: RelativePath,
    pad_token_id: z.number().int().nonnegative(),
    cls_token_id: z.number().int().nonnegative(),
    sep_token_id: z.number().int().nonnegative(),
    unk_token_id: z.number().int().nonnegative(),
  }),
  text: z.object({
    placement: z.enum(['edge', 'function']),
    max_length: z.number().int().min(2),
    position_id_offset: z.number().int().nonnegative(),
    files: z.object({ fp32: RelativePath.optional(), int8: RelativePath.optional() }),
    /** A variant's initializers as ONNX external data: the file beside its tower that the graph
     * names (edge towers written by `distill` and `convert --placement edge`). */
    external_data: z.object({ fp32: RelativePath.optional(), int8: RelativePath.optional() }).optional(),
    default_variant: z.enum(['fp32', 'int8']),
    architecture: z.record(z.string(), z.unknown()).default({}),
  }),
  image: z.object({
    /** The fp32 image tower (every host). */
    file: RelativePath,
    /** Converted packages also list each variant: `fp16` is for GPU hosts (CUDA provider). */
    files: z.object({ fp32: RelativePath.optional(), fp16: RelativePath.optional() }).optional(),
    size: z.number().int().positive(),
    resize: z.literal('shortest_edge'),
    interpolation: z.literal('bicubic'),
    crop: z.literal('center'),
    mean: Rgb,
    std: Rgb,
    architecture: z.record(z.string(), z.unknown()).default({}),
  }),
  files: z.record(RelativePath, z.object({ sha256: Sha256HexSchema, bytes: z.number().int().nonnegative() })),
  golden: z.object({ tokens: RelativePath, text: RelativePath, image: RelativePath }).optional(),
  demo: z.object({ index: RelativePath, embeddings: RelativePath }).optional(),
  training: z.record(z.string(), z.unknown()).default({}),
  evaluation: z.record(z.string(), z.unknown()).default({}),
});

export type ModelManifest = z.infer<typeof ModelManifestSchema>;

/** The text tower variants a package may ship: `fp32` (the reference's numbers) and `int8`. */
export const TEXT_VARIANTS = ['fp32', 'int8'] as const;
export type TextVariant = (typeof TEXT_VARIANTS)[number];

/** The text tower variants `manifest`'s package ships, fp32 first. */
export function textVariants(manifest: ModelManifest): TextVariant[] {
  return TEXT_VARIANTS.filter((v) => manifest.text.files[v] !== undefined);
}

/** Parses a manifest, throwing an Error that names every invalid field. */
export function parseManifest(json: unknown): ModelManifest {
  const result = ModelManifestSchema.safeParse(json);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`invalid model manifest: ${issues.join('; ')}`);
  }
  const manifest = result.data;
  if (!manifest.text.files[manifest.text.default_variant]) {
    throw new Error(`invalid model manifest: text.files has no ${manifest.text.default_variant} file`);
  }
  for (const variant of ['fp32', 'int8'] as const) {
    const data = manifest.text.external_data?.[variant];
    if (data === undefined) continue;
    const tower = manifest.text.files[variant];
    if (!tower) {
      throw new Error(`invalid model manifest: text.external_data.${variant} without a ${variant} tower`);
    }
    // The graph names its data file by a path relative to its own folder; packages keep the two
    // side by side, so the name alone is what onnxruntime is given.
    if (folderOf(data) !== folderOf(tower)) {
      throw new Error(
        `invalid model manifest: text.external_data.${variant} (${data}) is not in the folder of ${tower}`,
      );
    }
    if (!manifest.files[data]) {
      throw new Error(`invalid model manifest: text.external_data.${variant} (${data}) is not in files`);
    }
  }
  return manifest;
}

/** The ONNX file of the image tower for a variant: fp16 falls back to the fp32 file when the
 * package has none (packages written before `image.files` existed, koclip-tiny). */
export function imageTowerFile(manifest: ModelManifest, variant: 'fp32' | 'fp16' = 'fp32'): string {
  return manifest.image.files?.[variant] ?? manifest.image.file;
}

function folderOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/') + 1);
}

/** The ONNX file of the text tower for a variant (the manifest's default when omitted). */
export function textTowerFile(manifest: ModelManifest, variant = manifest.text.default_variant): string {
  const file = manifest.text.files[variant];
  if (!file) throw new Error(`model ${manifest.id} has no ${variant} text tower`);
  return file;
}

/** The external data file of a variant's text tower (package-relative), if it has one. */
export function textTowerExternalData(
  manifest: ModelManifest,
  variant = manifest.text.default_variant,
): string | undefined {
  return manifest.text.external_data?.[variant];
}

/** The name the tower's graph gives its external data file: its name within their shared folder. */
export function externalDataName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * Which text tower a variant is: model id, version and the first 16 hex of the sha256 of the
 * tower's file and of its external data file (two students of one shape can share the graph
 * file byte for byte and differ only in their data). The version names the embedding space, and
 * a distilled student keeps its teacher's (koclip_kit distill), so a student republished under
 * the same version differs only in this. Sessions and cached query embeddings are keyed by it.
 */
export function textTowerIdentity(manifest: ModelManifest, variant = manifest.text.default_variant): string {
  const short = (path: string | undefined) =>
    path === undefined ? '' : (manifest.files[path]?.sha256 ?? 'unlisted').slice(0, 16);
  const data = textTowerExternalData(manifest, variant);
  const files = short(textTowerFile(manifest, variant)) + (data ? `+${short(data)}` : '');
  return `${manifest.id}@${manifest.version}#${files}:${variant}`;
}

/** The variant a text tower identity names (its `:<variant>` suffix; textTowerIdentity). */
export function variantOfTower(tower: string): TextVariant {
  const variant = tower.slice(tower.lastIndexOf(':') + 1);
  const known = TEXT_VARIANTS.find((v) => v === variant);
  if (!known) throw new Error(`text tower ${tower} names no variant`);
  return known;
}

/** The embedding space of a model's vectors: its id, version and projection dimension. */
export function embeddingSpace(manifest: ModelManifest): EmbeddingSpace {
  return { model: manifest.id, version: manifest.version, dim: manifest.projection_dim };
}
