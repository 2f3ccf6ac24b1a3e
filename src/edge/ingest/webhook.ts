/**
 * The signed webhook's checks, in the order they run: the signature over the raw body (any of the
 * WEBHOOK_SECRET list, any `v1=`), its age, the replay guard, then the body itself. Each failure
 * is an ApiError; nothing is accepted until every event of the body is valid.
 */
import { DEFAULT_COLLECTION } from '../../core/contract/ids';
import { WebhookBodySchema } from '../../core/contract/ingest-schemas';
import { verifyWebhook } from '../../core/contract/webhook-signature';
import type { Env } from '../env';
import { ApiError, describeIssues } from '../http/errors';
import type { IngestEvent } from './ingest';
import { replayGuardFor } from './replay-guard';

/** WEBHOOK_SECRET as a list (comma-separated during a rotation); 503 when none is set. */
export function webhookSecrets(env: Pick<Env, 'WEBHOOK_SECRET'>): string[] {
  const secrets = (env.WEBHOOK_SECRET ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (secrets.length === 0) {
    throw new ApiError(503, 'webhook_not_configured', 'webhooks need WEBHOOK_SECRET to be set on the Worker');
  }
  return secrets;
}

const SIGNATURE_ERRORS = {
  missing: ['invalid_signature', 'the X-KoCLIP-Signature header is missing'],
  malformed: ['invalid_signature', 'the X-KoCLIP-Signature header is not t=<unix seconds>,v1=<hex>'],
  mismatch: ['invalid_signature', 'no v1 signature matches the body'],
  stale: ['stale_signature', 'the signature timestamp is outside the 300 s tolerance'],
} as const;

/**
 * Verifies the delivery's signature and remembers it: 401 `invalid_signature` / `stale_signature`,
 * 409 `replayed` for a signature already seen inside the window. Answers the matching signature
 * (to `forget` it if the delivery then fails on our side).
 */
export async function checkDelivery(env: Env, header: string | undefined, raw: Uint8Array): Promise<string> {
  const check = await verifyWebhook(header, raw, webhookSecrets(env));
  if (!check.ok) {
    const [code, message] = SIGNATURE_ERRORS[check.reason];
    throw new ApiError(401, code, message);
  }
  let fresh: boolean;
  try {
    fresh = await replayGuardFor(env, check.signature).remember(check.signature, check.t);
  } catch (cause) {
    throw new ApiError(503, 'replay_guard_unavailable', 'the delivery could not be checked; retry it', {
      cause,
    });
  }
  if (!fresh) throw new ApiError(409, 'replayed', 'this signature was already delivered; nothing changed');
  return check.signature;
}

/** Forgets a delivery's signature (best effort) so that the sender's retry is not a replay. */
export async function forgetDelivery(env: Env, signature: string): Promise<void> {
  try {
    await replayGuardFor(env, signature).forget(signature);
  } catch (error) {
    console.error('replay guard: could not forget a failed delivery', error);
  }
}

/** The events of a webhook body (400 `invalid_request` naming the field), collections filled in. */
export function webhookEvents(raw: Uint8Array): IngestEvent[] {
  let text: string;
  try {
    // A leading BOM is dropped (it was signed with the rest); bytes that are not UTF-8 are refused,
    // never replaced with U+FFFD and stored.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(raw);
  } catch {
    throw new ApiError(400, 'invalid_request', 'the body is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'invalid_request', 'the body is not valid JSON');
  }
  const parsed = WebhookBodySchema.safeParse(json);
  if (!parsed.success) throw new ApiError(400, 'invalid_request', describeIssues(parsed.error.issues));
  return parsed.data.events.map((e): IngestEvent => {
    const collection = e.collection ?? DEFAULT_COLLECTION;
    if (e.op === 'delete') return { op: 'delete', collection, id: e.id };
    return {
      op: 'upsert',
      collection,
      id: e.id,
      source: e.image_url !== undefined ? { image_url: e.image_url } : { r2_key: e.r2_key as string },
      metadata: e.metadata ?? {},
      ...(e.caption === undefined ? {} : { caption: e.caption }),
    };
  });
}
