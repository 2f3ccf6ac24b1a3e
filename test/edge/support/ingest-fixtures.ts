/** Calls of the ingest API as a client makes them: signed webhooks, admin requests, stats. */
import { exports } from 'cloudflare:workers';
import { SIGNATURE_HEADER, signWebhook } from '../../../src/core/contract/webhook-signature';

export const WEBHOOK_SECRETS = ['whsec-test-current', 'whsec-test-previous'] as const;
export const ADMIN = { authorization: 'Bearer test-admin-token' };

export const call = (path: string, init?: RequestInit) =>
  exports.default.fetch(new Request(`http://worker.test${path}`, init));

/** POST /v1/webhooks/index with `raw` as the body, signed unless `signature` says otherwise. */
export async function webhook(
  body: unknown,
  options: { signature?: string | null; t?: number; secret?: string; contentType?: string } = {},
): Promise<Response> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const signature =
    options.signature === undefined
      ? await signWebhook(options.secret ?? WEBHOOK_SECRETS[0], raw, options.t)
      : options.signature;
  const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/json' };
  if (signature !== null) headers[SIGNATURE_HEADER] = signature;
  return call('/v1/webhooks/index', { method: 'POST', headers, body: raw });
}

/** An admin request (bearer ADMIN_TOKEN). */
export const admin = (path: string, init: RequestInit = {}) =>
  call(path, { ...init, headers: { ...ADMIN, ...(init.headers as Record<string, string> | undefined) } });

/** GET /v1/index/stats of a collection, as JSON. */
export async function stats(collection = 'default'): Promise<unknown> {
  const response = await admin(`/v1/index/stats?collection=${collection}`);
  if (response.status !== 200) throw new Error(`stats answered ${response.status}: ${await response.text()}`);
  return response.json();
}

/** GET /v1/images/:id as { status, body }. */
export async function imageStatus(id: string, collection = 'default') {
  const response = await admin(`/v1/images/${encodeURIComponent(id)}?collection=${collection}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Expects the JSON error envelope with `code` and `status`. */
export async function errorOf(
  response: Response,
): Promise<{ status: number; code: string; message: string }> {
  const body = (await response.json()) as { error?: { code?: unknown; message?: unknown } };
  if (typeof body.error?.code !== 'string' || typeof body.error.message !== 'string') {
    throw new Error(`not the error envelope: ${JSON.stringify(body)}`);
  }
  return { status: response.status, code: body.error.code, message: body.error.message };
}
