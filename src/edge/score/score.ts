/**
 * Caption scoring of one image (Image->Text zero-shot): the cache is looked up by the image's
 * identity and the text tower that will embed the captions before any embedding; on a miss the
 * image and the (templated) captions are embedded and scored, and the answer is cached under the
 * tower that embedded them.
 */
import type { z } from 'zod';
import type { ScoreFields, ScoreResponseSchema } from '../../core/contract/api-schemas';
import { ApiError } from '../http/errors';
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
}

/** The validated fields of POST JSON or multipart. */
export type ScoreInput = ScoreFields & { image?: File };

/** Checks that an image and captions are given (400 `invalid_request` otherwise). */
export async function scoreRequestFrom(fields: ScoreInput): Promise<ScoreRequest> {
  const image = await queryImageFrom(fields, fields.image);
  if (!image)
    throw new ApiError(400, 'invalid_request', 'give one of image_id, image_url or an image upload');
  if (!fields.captions) throw new ApiError(400, 'invalid_request', 'captions: give 1 to 64 captions');
  return {
    image,
    captions: fields.captions,
    ...(fields.prompt_template === undefined ? {} : { template: fields.prompt_template }),
  };
}

/** Scores captions against an image; `cache` tells whether the answer came from a cache. */
export async function runScore(ctx: QueryContext, request: ScoreRequest) {
  const { model, store } = ctx;
  const cache = new ScoreCache(ctx.env.EDGE_CACHE);
  const tower = textTowerKey(model, await queryTextTower(ctx.env, model));
  const digest = await scoreCacheDigest(
    await guardIndex(() => imageIdentity(request.image, store)),
    request.captions,
    request.template,
  );
  const hit = await cache.get<ScoreBody>(tower, digest);
  if (hit) return { body: hit.value, cache: 'HIT' as const, tier: hit.tier };
  const texts = applyTemplate(request.captions, request.template);
  const image = await guardIndex(() =>
    embedQueryImage(request.image, { store, model: model.space, encoder: ctx.encoder }),
  );
  const embedded = await embedQueryTexts(ctx.env, model, texts);
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
