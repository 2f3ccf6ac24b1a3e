/**
 * Text embeddings from the encoder function (`POST /v1/embed/text` of
 * src/core/contract/encoder-api.ts), for models whose text tower is placed on the `function`: the
 * same call path, auth, timeout and error mapping as images (./encoder-client.ts), at most the
 * contract's texts per call, and the answer checked against the model.
 */
import {
  ENCODER_LIMITS,
  ENCODER_PATHS,
  TextAnswerSchema,
  type TextRequest,
} from '../../core/contract/encoder-api';
import type { EmbeddingSpace } from '../../core/contract/spaces';
import { call, checkedAnswer, type EncoderClientConfig, encoderPath } from './encoder-client';

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
  for (let start = 0; start < texts.length; start += ENCODER_LIMITS.texts) {
    const request: TextRequest = { texts: texts.slice(start, start + ENCODER_LIMITS.texts) };
    const json = await call(config, encoderPath(ENCODER_PATHS.text, { model: model.model }), {
      body: JSON.stringify(request),
      headers: { 'content-type': 'application/json' },
    });
    for (const item of checkedAnswer(TextAnswerSchema, json, model, request.texts.length))
      out.push({ embedding: Float32Array.from(item.embedding), truncated: item.truncated === true });
  }
  return out;
}
