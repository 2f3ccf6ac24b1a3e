/**
 * Text embeddings from the encoder function (`POST /v1/embed/text` of
 * src/core/contract/encoder-api.ts), for models whose text tower is placed on the `function`: the
 * same call path, auth, timeout and error mapping as images (./encoder-client.ts), at most the
 * contract's texts per call, and the answer checked against the model.
 *
 * It also knows which text tower the encoder runs for each model, because the Worker's caches of
 * a `function` tower's numbers (query embeddings, caption scores) are keyed by that tower, and a
 * cache is looked up before any answer: the encoder decides the variant (ENCODER_TEXT_VARIANT,
 * else the manifest's default), and a restart may switch it under the same model version. Every
 * text answer names its tower (`text_tower`), and this isolate remembers the last one named per
 * model; lookups use it. An answer from another tower replaces it at once (and is kept under its
 * own key by the caller), so after a switch the isolate's first miss moves it. Hits alone never
 * reach the encoder, so the remembered tower is trusted for a minute, as an R2 manifest is
 * (./model-registry.ts); past that, and in a fresh isolate, the encoder's /healthz (which names the
 * tower of every model) is asked: one GET per isolate and minute, shared by concurrent requests.
 * Asking on every request would be exact, but would cost a cached query the encoder round trip
 * the cache is there to save. When /healthz cannot say (the encoder is down, or older than this
 * contract), the remembered tower stays, else the manifest's default variant's tower (what an
 * encoder runs without ENCODER_TEXT_VARIANT), so cached answers keep serving meanwhile; it is
 * asked again a minute later.
 *
 * A caller may also name the variant (`/v1/score` asks for `fp32` by default: its numbers are the
 * reference forward pass's). Then the encoder is sent `?text_variant=` and runs that tower for the
 * request whatever its default, and the tower is known beforehand: the manifest's
 * `textTowerIdentity` for that variant (or the one the encoder last named for it, within the
 * minute). Such answers are remembered apart from the default's, so a request for one variant
 * never moves the lookups of requests for the encoder's default. An answer of another variant
 * than the one asked (an encoder older than `text_variant`, which ignores it) is refused: 502
 * `encoder_bad_response`, never the other tower's numbers.
 */
import {
  ENCODER_LIMITS,
  ENCODER_PATHS,
  HealthAnswerSchema,
  TextAnswerSchema,
  type TextRequest,
} from '../../core/contract/encoder-api';
import type { EmbeddingSpace } from '../../core/contract/spaces';
import { type ModelManifest, type TextVariant, textTowerIdentity } from '../../core/manifest';
import { ApiError } from '../http/errors';
import { call, checkedBody, type EncoderClientConfig, encoderPath } from './encoder-client';

export interface RemoteTextEmbedding {
  embedding: Float32Array;
  truncated: boolean;
}

export interface RemoteTextEmbeddings {
  /** The tower that made them (the answer's `text_tower`, core/manifest.ts textTowerIdentity). */
  tower: string;
  items: RemoteTextEmbedding[];
}

/** How long the tower the encoder last named is trusted before /healthz is asked again. */
export const ENCODER_TOWER_TTL_MS = 60_000;

/** How long a lookup waits for the encoder's /healthz before it goes on with what it knows. */
const HEALTH_TIMEOUT_MS = 2000;

/** What the Worker reads of the encoder's /healthz here. */
const HealthTowers = HealthAnswerSchema.pick({ models: true });

/** The tower the encoder last named per encoder, model version and variant asked, and when. */
const named = new Map<string, { tower: string; at: number }>();
/** The /healthz call in flight per encoder (concurrent lookups share it). */
const asking = new Map<string, Promise<void>>();

/** `variant` undefined: the encoder's default tower; else the tower of that variant. */
const towerKey = (config: EncoderClientConfig, model: string, version: string, variant?: TextVariant) =>
  `${config.url} ${model}@${version}${variant ? `:${variant}` : ''}`;

function remember(
  config: EncoderClientConfig,
  model: string,
  version: string,
  tower: string,
  variant?: TextVariant,
): void {
  named.set(towerKey(config, model, version, variant), { tower, at: Date.now() });
}

/**
 * Embeds texts on the encoder, in input order, all by one tower (the one it names): the
 * encoder's default, or the `variant` asked (502 `encoder_bad_response` when another answers).
 */
export async function embedTextsRemote(
  config: EncoderClientConfig,
  model: EmbeddingSpace,
  texts: readonly string[],
  variant?: TextVariant,
): Promise<RemoteTextEmbeddings> {
  if (texts.length === 0) throw new Error('embedTextsRemote: no texts');
  const items: RemoteTextEmbedding[] = [];
  let tower: string | undefined;
  for (let start = 0; start < texts.length; start += ENCODER_LIMITS.texts) {
    const request: TextRequest = { texts: texts.slice(start, start + ENCODER_LIMITS.texts) };
    const json = await call(
      config,
      encoderPath(ENCODER_PATHS.text, { model: model.model, text_variant: variant }),
      { body: JSON.stringify(request), headers: { 'content-type': 'application/json' } },
    );
    const { answer, items: answered } = checkedBody(TextAnswerSchema, json, model, request.texts.length);
    if (variant !== undefined && answer.text_variant !== variant) {
      throw new ApiError(
        502,
        'encoder_bad_response',
        `the encoder answered with its ${answer.text_variant} text tower when ${variant} was asked ` +
          '(an encoder older than text_variant: deploy the encoder before the Worker)',
      );
    }
    remember(config, model.model, model.version, answer.text_tower, variant);
    if (tower !== undefined && answer.text_tower !== tower) {
      throw new ApiError(
        502,
        'encoder_tower_changed',
        `the encoder switched text towers within one request (${tower}, then ${answer.text_tower}); try again`,
      );
    }
    tower = answer.text_tower;
    for (const item of answered)
      items.push({ embedding: Float32Array.from(item.embedding), truncated: item.truncated === true });
  }
  return { tower: tower as string, items };
}

/**
 * The text tower the encoder runs for `manifest`'s model, as this isolate knows it: the one it last
 * named within the minute, else the one its /healthz names now, else the last one it named, else
 * the manifest's default variant's (see the module comment). With `variant`, the tower of that
 * variant: the one the encoder last named for it within the minute, else the manifest's. Never
 * throws.
 */
export async function encoderTextTower(
  config: EncoderClientConfig,
  manifest: ModelManifest,
  variant?: TextVariant,
): Promise<string> {
  const key = towerKey(config, manifest.id, manifest.version, variant);
  const held = named.get(key);
  if (held && Date.now() - held.at < ENCODER_TOWER_TTL_MS) return held.tower;
  // A named variant's tower is the package's: the encoder computes it from the same files.
  if (variant !== undefined) return textTowerIdentity(manifest, variant);
  await askHealth(config);
  const now = named.get(key);
  if (now && now !== held) return now.tower;
  // /healthz did not say: go on with the best guess, and ask again in a minute.
  const guess = held?.tower ?? textTowerIdentity(manifest);
  remember(config, manifest.id, manifest.version, guess);
  return guess;
}

/** Asks the encoder's /healthz and remembers the tower of every model it names; never throws. */
function askHealth(config: EncoderClientConfig): Promise<void> {
  const pending = asking.get(config.url);
  if (pending) return pending;
  const ask = (async () => {
    try {
      const response = await (config.fetch ?? fetch)(`${config.url}${ENCODER_PATHS.health}`, {
        headers: { authorization: `Bearer ${config.token}` },
        signal: AbortSignal.timeout(Math.min(config.timeoutMs, HEALTH_TIMEOUT_MS)),
      });
      if (!response.ok) {
        await response.body?.cancel();
        return;
      }
      const health = HealthTowers.safeParse(await response.json());
      if (!health.success) return;
      for (const m of health.data.models) remember(config, m.id, m.version, m.text_tower);
    } catch {
      // Unreachable, timed out or not JSON: the caller goes on with what it knows.
    }
  })();
  asking.set(config.url, ask);
  void ask.finally(() => {
    if (asking.get(config.url) === ask) asking.delete(config.url);
  });
  return ask;
}

/** @internal tests: forgets every tower the encoder named (a fresh isolate). */
export function forgetEncoderTextTowers(): void {
  named.clear();
}
