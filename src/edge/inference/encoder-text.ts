/**
 * Text embeddings from the encoder function (`POST /v1/embed/text`, docs/encoder-contract.md),
 * for models whose text tower is placed on the `function`: the same call path, auth, timeout and
 * error mapping as images (./encoder-client.ts), and the answer checked against the model.
 */
import { z } from 'zod';
import type { EmbeddingSpace } from '../../core/contract/spaces';
import { ApiError } from '../http/errors';
import { call, checkDim, checkSameModel, type EncoderClientConfig, inOrder } from './encoder-client';

/** Texts per encoder call (the encoder's default ENCODER_MAX_TEXTS). */
export const REMOTE_TEXT_BATCH = 256;

const TextAnswerSchema = z.object({
  model: z.string(),
  version: z.string(),
  dim: z.number().int().positive(),
  data: z.array(
    z.object({
      index: z.number().int().nonnegative(),
      embedding: z.array(z.number().finite()),
      truncated: z.literal(true).optional(),
    }),
  ),
});

export interface RemoteTextEmbedding {
  embedding: Float32Array;
  truncated: boolean;
}

/** Embeds texts on the encoder, in input order. */
export async function embedTextsRemote(
  config: EncoderClientConfig,
  model: EmbeddingSpace,
  texts: readonly string[],
): Promise<RemoteTextEmbedding[]> {
  const out: RemoteTextEmbedding[] = [];
  for (let start = 0; start < texts.length; start += REMOTE_TEXT_BATCH) {
    const batch = texts.slice(start, start + REMOTE_TEXT_BATCH);
    const json = await call(config, `/v1/embed/text?${new URLSearchParams({ model: model.model })}`, {
      body: JSON.stringify({ texts: batch }),
      headers: { 'content-type': 'application/json' },
    });
    const parsed = TextAnswerSchema.safeParse(json);
    if (!parsed.success)
      throw new ApiError(502, 'encoder_bad_response', "the encoder's answer does not follow the contract");
    checkSameModel(parsed.data, model);
    const items = inOrder(parsed.data.data, batch.length);
    for (const item of items) checkDim(item.embedding, model);
    for (const item of items)
      out.push({ embedding: Float32Array.from(item.embedding), truncated: item.truncated === true });
  }
  return out;
}
