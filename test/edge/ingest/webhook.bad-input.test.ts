/**
 * Bad webhook input: every case is a 4xx in the JSON error envelope, and the stats of the indexes
 * it names are the same before and after (nothing was accepted).
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { INGEST_LIMITS, LIMITS } from '../../../src/core/contract/limits';
import { signWebhook } from '../../../src/core/contract/webhook-signature';
import { app } from '../../../src/edge/app';
import { errorOf, stats, WEBHOOK_SECRETS, webhook } from '../support/ingest-fixtures';

const COLLECTION = 'bad-input';
const upsert = (id: string, extra: Record<string, unknown> = {}) => ({
  op: 'upsert',
  id,
  collection: COLLECTION,
  image_url: `https://images.test/${id}.png`,
  ...extra,
});
const nowS = () => Math.floor(Date.now() / 1000);

/** Sends `send()`, expects `status` and `code`, and the stats unchanged. */
async function expectRefused(send: () => Promise<Response>, status: number, code: string, field?: string) {
  const before = [await stats(), await stats(COLLECTION)];
  const error = await errorOf(await send());
  expect(error).toMatchObject({ status, code });
  if (field) expect(error.message).toContain(field);
  expect([await stats(), await stats(COLLECTION)]).toEqual(before);
  return error;
}

const valid = { events: [upsert('ok-1')] };

describe('POST /v1/webhooks/index refuses bad signatures', () => {
  it('a missing signature: 401 invalid_signature', async () => {
    await expectRefused(() => webhook(valid, { signature: null }), 401, 'invalid_signature');
  });

  it('a malformed signature: 401 invalid_signature', async () => {
    for (const signature of ['nonsense', `t=${nowS()}`, `t=${nowS()},v1=xyz`, `v1=${'0'.repeat(64)}`]) {
      await expectRefused(() => webhook(valid, { signature }), 401, 'invalid_signature');
    }
  });

  it('a signature made with an unknown secret: 401 invalid_signature', async () => {
    await expectRefused(() => webhook(valid, { secret: 'not-our-secret' }), 401, 'invalid_signature');
  });

  it('a signature of another body (tampered in transit): 401 invalid_signature', async () => {
    const raw = JSON.stringify(valid);
    const signature = await signWebhook(WEBHOOK_SECRETS[0], raw);
    const tampered = raw.replace('ok-1', 'ok-2');
    await expectRefused(() => webhook(tampered, { signature }), 401, 'invalid_signature');
  });

  it('a timestamp outside the 300 s tolerance, past or future: 401 stale_signature', async () => {
    await expectRefused(() => webhook(valid, { t: nowS() - 301 }), 401, 'stale_signature');
    await expectRefused(() => webhook(valid, { t: nowS() + 400 }), 401, 'stale_signature');
  });

  it('a replay of a delivery: 409 replayed, and the replay changes nothing', async () => {
    const body = { events: [{ op: 'delete', id: 'replayed-1', collection: COLLECTION }] };
    const raw = JSON.stringify(body);
    const signature = await signWebhook(WEBHOOK_SECRETS[0], raw);
    expect((await webhook(raw, { signature })).status).toBe(202);
    await expectRefused(() => webhook(raw, { signature }), 409, 'replayed');
    await expectRefused(() => webhook(raw, { signature }), 409, 'replayed');
  });

  it('a Worker without WEBHOOK_SECRET answers 503 webhook_not_configured', async () => {
    const raw = JSON.stringify(valid);
    const response = await app.fetch(
      new Request('http://worker.test/v1/webhooks/index', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'X-KoCLIP-Signature': await signWebhook('x', raw) },
        body: raw,
      }),
      { ...env, WEBHOOK_SECRET: '' },
    );
    expect(await errorOf(response)).toMatchObject({ status: 503, code: 'webhook_not_configured' });
  });
});

describe('POST /v1/webhooks/index refuses bad payloads (signed correctly)', () => {
  it('a body over the limit: 413 payload_too_large', async () => {
    const big = { events: [upsert('big', { caption: 'x'.repeat(INGEST_LIMITS.bodyBytes) })] };
    await expectRefused(() => webhook(big), 413, 'payload_too_large');
  });

  it('a body that is not JSON: 400 invalid_request', async () => {
    await expectRefused(() => webhook('{"events": [', {}), 400, 'invalid_request', 'JSON');
    await expectRefused(() => webhook('', {}), 400, 'invalid_request');
  });

  it('a body without events, with no events, or with too many: 400 invalid_request', async () => {
    await expectRefused(() => webhook({}), 400, 'invalid_request', 'events');
    await expectRefused(() => webhook([]), 400, 'invalid_request');
    await expectRefused(() => webhook({ events: [] }), 400, 'invalid_request', 'events');
    const many = { events: Array.from({ length: INGEST_LIMITS.events + 1 }, (_, i) => upsert(`m-${i}`)) };
    await expectRefused(() => webhook(many), 400, 'invalid_request', 'events');
    await expectRefused(() => webhook({ ...valid, extra: 1 }), 400, 'invalid_request');
  });

  it('an unknown op: 400 invalid_request naming the field', async () => {
    await expectRefused(
      () => webhook({ events: [{ op: 'replace', id: 'a' }] }),
      400,
      'invalid_request',
      'events.0.op',
    );
    await expectRefused(() => webhook({ events: [{ id: 'a' }] }), 400, 'invalid_request', 'events.0.op');
  });

  it('ids past the limit, empty, or with whitespace: 400 naming events.N.id', async () => {
    const long = 'x'.repeat(LIMITS.idChars + 1);
    await expectRefused(() => webhook({ events: [upsert(long)] }), 400, 'invalid_request', 'events.0.id');
    await expectRefused(() => webhook({ events: [upsert('')] }), 400, 'invalid_request', 'events.0.id');
    await expectRefused(() => webhook({ events: [upsert('a b')] }), 400, 'invalid_request', 'events.0.id');
    await expectRefused(
      () => webhook({ events: [{ op: 'delete', id: long }] }),
      400,
      'invalid_request',
      'events.0.id',
    );
  });

  it('metadata too large or with too many fields: 400 naming events.N.metadata', async () => {
    const large = {
      blob: 'x'.repeat(1000),
      more: 'y'.repeat(1000),
      again: 'z'.repeat(1000),
      last: 'w'.repeat(1100),
    };
    await expectRefused(
      () => webhook({ events: [upsert('meta', { metadata: large })] }),
      400,
      'invalid_request',
      'events.0.metadata',
    );
    const wide = Object.fromEntries(
      Array.from({ length: INGEST_LIMITS.metadataFields + 1 }, (_, i) => [`f${i}`, i]),
    );
    await expectRefused(
      () => webhook({ events: [upsert('meta', { metadata: wide })] }),
      400,
      'invalid_request',
      'events.0.metadata',
    );
    await expectRefused(
      () => webhook({ events: [upsert('meta', { metadata: { nested: { a: 1 } } })] }),
      400,
      'invalid_request',
      'metadata',
    );
  });

  it('an upsert with both or neither of image_url and r2_key, or a bad one: 400', async () => {
    const both = upsert('s', { r2_key: 'uploads/s.png' });
    await expectRefused(() => webhook({ events: [both] }), 400, 'invalid_request', 'image_url or r2_key');
    await expectRefused(
      () => webhook({ events: [{ op: 'upsert', id: 's' }] }),
      400,
      'invalid_request',
      'image_url or r2_key',
    );
    await expectRefused(
      () => webhook({ events: [upsert('s', { image_url: 'ftp://x/y.png' })] }),
      400,
      'invalid_request',
      'image_url',
    );
    const outside = { op: 'upsert', id: 's', r2_key: '../secrets' };
    await expectRefused(() => webhook({ events: [outside] }), 400, 'invalid_request', 'r2_key');
  });

  it('a bad collection name: 400 naming events.N.collection', async () => {
    await expectRefused(
      () => webhook({ events: [upsert('c', { collection: 'Not Valid' })] }),
      400,
      'invalid_request',
      'events.0.collection',
    );
  });

  it('one bad event refuses the whole call: the valid events before it are not accepted', async () => {
    const mixed = {
      events: [upsert('first-ok'), { op: 'delete', id: 'second-ok' }, upsert('x'.repeat(300))],
    };
    await expectRefused(() => webhook(mixed), 400, 'invalid_request', 'events.2.id');
  });
});
