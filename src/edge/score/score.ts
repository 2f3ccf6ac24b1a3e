/**
 * Caption scoring of one image (Image->Text zero-shot): the cache is looked up by the image's
 * identity and the text tower that will embed the captions before any embedding; on a miss the
 * image and the (templated) captions are embedded and scored, and the answer is cached under the
 * tower that embedded them.
 *
 * Which tower: users hold these probabilities against the original KoCLIP's Quickstart (the fp32
 * forward pass), and at a trained CLIP's logit scale (about 100) the int8 tower moves them by
 * about 1e-2 (docs/model-package.md, `evaluation.score_vs_reference`). So a model whose text
 * tower runs on the encoder function answers with its fp32 tower unless the caller asks for
 * `int8`: the encoder has the memory, and captions are few. An `edge` model answers with the
 * edge's own tower (the int8 one the isolate is sized for) unless asked for `fp32`, which the
 * encoder function then runs (../query/text-embedder.ts). Every answer names its tower
 * (`text_variant`, `text_tower`), and the caches keep each tower's answers under its own key.
 */
import type { z } from 'zod';
import type { ScoreFields, ScoreResponseSchema } from '../../core/contract/api-schemas';
import { type ModelManifest, type TextVariant, variantOfTower } from '../../core/manifest';
import { ApiError } from '../http/errors';
import { requireTextVariant } from '../inference/model-registry';
import { guardIndex, type QueryContext } from '../query/context';
import { embedQueryImage, imageIdentity, type QueryImage, queryImageFrom } from '../query/image';
import { embedQueryTexts, queryTextTower, textTowerKey } from '../query/text-embedder';
import { ScoreCache, scoreCacheDigest } from './cache';
import { applyTemplate, scoreCaptions } from './captions';

export type ScoreBody = z.infer<typeof ScoreResponseSchema>;

export interface ScoreRequest {
  image: QueryImage;
  captions: string[];
  template?: string;
  /** The text variant that embeds the captions (scoreTextVariant); absent: the edge's own tower. */
  textVariant?: TextVariant;
}

/** The validated fields of POST JSON or multipart. */
export type ScoreInput = ScoreFields & { image?: File };

/** Checks that an image and captions are given (400 `invalid_request` otherwise). */
export async function scoreRequestFrom(fields: ScoreInput, textVariant?: TextVariant): Promise<ScoreRequest> {
  const image = await queryImageFrom(fields, fields.image);
  if (!image)
    throw new ApiError(400, 'invalid_request', 'give one of image_id, image_url or an image upload');
  if (!fields.captions) throw new ApiError(400, 'invalid_request', 'captions: give 1 to 64 captions');
  return {
    image,
    captions: fields.captions,
    ...(fields.prompt_template === undefined ? {} : { template: fields.prompt_template }),
    ...(textVariant === undefined ? {} : { textVariant }),
  };
}

/**
 * The text variant that embeds a score's captions: the one asked (400 `unknown_variant`, naming
 * those the package ships, when it ships none such), else `fp32` for a `function` model that
 * ships it, else undefined: the edge's own tower (or the encoder's default, for a `function`
 * package without fp32).
 */
export function scoreTextVariant(manifest: ModelManifest, asked?: TextVariant): TextVariant | undefined {
  if (asked !== undefined) return requireTextVariant(manifest, asked);
  return manifest.text.placement === 'function' && manifest.text.files.fp32 ? 'fp32' : undefined;
}

/** Scores captions against an image; `cache` tells whether the answer came from a cache. */
export async function runScore(ctx: QueryContext, request: ScoreRequest) {
  const { model, store } = ctx;
  const variant = request.textVariant;
  const cache = new ScoreCache(ctx.env.EDGE_CACHE);
  const expected = await queryTextTower(ctx.env, model, variant);
  const digest = await scoreCacheDigest(
    await guardIndex(() => imageIdentity(request.image, store)),
    request.captions,
    request.template,
  );
  const hit = await cache.get<ScoreBody>(textTowerKey(model, expected), digest);
  if (hit) {
    // The key names the tower whose numbers these are (answers cached before the body named it too).
    const body = { ...hit.value, text_variant: variantOfTower(expected), text_tower: expected };
    return { body, cache: 'HIT' as const, tier: hit.tier };
  }
  const texts = applyTemplate(request.captions, request.template);
  const image = await guardIndex(() =>
    embedQueryImage(request.image, { store, model: model.space, encoder: ctx.encoder }),
  );
  const embedded = await embedQueryTexts(ctx.env, model, texts, variant);
  const scores = scoreCaptions(image.vector, embedded.embeddings, model.manifest.logit_scale);
  const body: ScoreBody = {
    object: 'caption_scores',
    model: model.id,
    version: model.version,
    image: {
      kind: request.image.kind,
      ...(image.id ? { id: image.id } : {}),
      ...(image.sha256 ? { sha256: image.sha256 } : {}),
    },
    prompt_template: request.template ?? null,
    logit_scale: model.manifest.logit_scale,
    text_variant: variantOfTower(embedded.tower),
    text_tower: embedded.tower,
    results: request.captions.map((caption, i) => ({
      caption,
      text: texts[i] as string,
      logit: scores.logits[i] as number,
      prob: scores.probs[i] as number,
      truncated: embedded.truncated[i] ?? false,
    })),
    probs: scores.probs,
    logits: scores.logits,
    best: scores.best,
  };
  // Under the tower that embedded the captions (a `function` model's encoder may have just switched).
  await cache.put(textTowerKey(model, embedded.tower), digest, body);
  return { body, cache: 'MISS' as const, tier: null };
}
