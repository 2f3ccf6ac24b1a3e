/**
 * Text->Patch: how well each cell of a rows x cols grid over an image matches one text. The
 * encoder crops and embeds the cells (`?grid=RxC`); the Worker scores them against the text.
 */
import type { PatchesFields } from '../../core/contract/api-schemas';
import { cosine, softmax } from '../../core/vector';
import { ApiError } from '../http/errors';
import { type EncoderImage, embedImage } from '../inference/encoder-client';
import type { QueryContext } from '../query/context';
import { checkUpload, type QueryImage, queryImageFrom } from '../query/image';
import { embedQueryTexts } from '../query/text-embedder';
import { applyTemplate } from '../score/captions';

export interface PatchesRequest {
  image: QueryImage;
  text: string;
  rows: number;
  cols: number;
  template?: string;
}

/** The validated fields of POST JSON or multipart. */
export type PatchesInput = PatchesFields & { image?: File };

/** Checks that an image URL or upload and a text are given (400 `invalid_request` otherwise). */
export async function patchesRequestFrom(fields: PatchesInput): Promise<PatchesRequest> {
  const image = await queryImageFrom(fields, fields.image);
  if (!image) throw new ApiError(400, 'invalid_request', 'give an image_id, an image_url or an image upload');
  if (!fields.text) throw new ApiError(400, 'invalid_request', 'text: give the text to look for');
  return {
    image,
    text: fields.text,
    rows: fields.rows,
    cols: fields.cols,
    ...(fields.prompt_template === undefined ? {} : { template: fields.prompt_template }),
  };
}

/**
 * What the encoder gets for the image: the upload, the URL, or for an indexed image its kept
 * original (IMAGES_BUCKET, for uploads and R2 objects) or the URL it was indexed from.
 */
async function encoderImage(ctx: QueryContext, image: QueryImage): Promise<EncoderImage> {
  if (image.kind === 'image') return { kind: 'bytes', bytes: image.bytes, contentType: image.contentType };
  if (image.kind === 'image_url') return { kind: 'url', url: image.url };
  const record = await ctx.store.record(image.id);
  const source = record?.state === 'indexed' ? record.source : undefined;
  if (!source)
    throw new ApiError(
      404,
      'image_not_found',
      `no indexed image '${image.id}' in the ${ctx.collection} collection`,
    );
  if ('image_url' in source) return { kind: 'url', url: source.image_url };
  const object = await ctx.env.IMAGES_BUCKET.get(source.r2_key);
  if (!object)
    throw new ApiError(
      404,
      'image_not_found',
      `the original of '${image.id}' is no longer in the images bucket`,
    );
  const bytes = new Uint8Array(await object.arrayBuffer());
  return { kind: 'bytes', bytes, contentType: checkUpload(bytes, object.httpMetadata?.contentType ?? '') };
}

/** Scores every cell of a rows x cols grid over the image against one text (Text->Patch). */
export async function runPatches(ctx: QueryContext, request: PatchesRequest) {
  const { model } = ctx;
  const { rows, cols } = request;
  const source = await encoderImage(ctx, request.image);
  const [text] = applyTemplate([request.text], request.template);
  const [cells, embedded] = await Promise.all([
    embedImage(ctx.encoder(), model.space, source, { grid: { rows, cols } }),
    embedQueryTexts(ctx.env, model, [text as string]),
  ]);
  const query = embedded.embeddings[0] as Float32Array;
  const flat = cells.map((cell) => cosine(cell.embedding, query));
  const probs = softmax(flat.map((s) => Math.exp(model.manifest.logit_scale) * s));
  let best = 0;
  flat.forEach((s, i) => {
    if (s > (flat[best] as number)) best = i;
  });
  const grid = (values: number[]) =>
    Array.from({ length: rows }, (_, r) => values.slice(r * cols, (r + 1) * cols));
  return {
    object: 'patch_scores' as const,
    model: model.id,
    version: model.version,
    text: text as string,
    truncated: embedded.truncated[0] ?? false,
    rows,
    cols,
    scores: grid(flat),
    probs: grid(probs),
    best: { row: Math.floor(best / cols), col: best % cols, score: flat[best] as number },
  };
}
