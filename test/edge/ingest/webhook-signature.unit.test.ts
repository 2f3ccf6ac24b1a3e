import { describe, expect, it } from 'vitest';
import {
  constantTimeEqual,
  parseSignatureHeader,
  SIGNATURE_TOLERANCE_S,
  signWebhook,
  verifyWebhook,
} from '../../../src/core/contract/webhook-signature';

const body = JSON.stringify({ events: [{ op: 'delete', id: 'a' }] });
const now = 1_800_000_000;

/** HMAC-SHA256 hex computed independently of the module (the reference a shell user would get). */
async function reference(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(message)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('');
}

describe('webhook signatures', () => {
  it('covers the raw bytes: a BOM and bytes that are not UTF-8 are signed as they are', async () => {
    const utf8 = new TextEncoder().encode(body);
    // A string is signed as its UTF-8 bytes.
    expect(await signWebhook('s', utf8, now)).toBe(await signWebhook('s', body, now));
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...utf8]);
    expect((await verifyWebhook(await signWebhook('s', withBom, now), withBom, ['s'], now)).ok).toBe(true);
    expect((await verifyWebhook(await signWebhook('s', body, now), withBom, ['s'], now)).ok).toBe(false);
    const invalid = new Uint8Array([...utf8.subarray(0, 5), 0xff, ...utf8.subarray(5)]);
    const replaced = new TextDecoder().decode(invalid);
    expect((await verifyWebhook(await signWebhook('s', invalid, now), invalid, ['s'], now)).ok).toBe(true);
    expect((await verifyWebhook(await signWebhook('s', replaced, now), invalid, ['s'], now)).ok).toBe(false);
  });

  it('signs t and HMAC-SHA256(secret, "<t>.<body>") in hex, and verifies its own signature', async () => {
    const header = await signWebhook('s3cret', body, now);
    expect(header).toBe(`t=${now},v1=${await reference('s3cret', `${now}.${body}`)}`);
    expect(await verifyWebhook(header, body, ['s3cret'], now)).toEqual({
      ok: true,
      t: now,
      signature: header.split('v1=')[1],
    });
  });

  it('accepts either side of a rotation: several v1 sent, several secrets known', async () => {
    const sentWithBoth = await signWebhook(['new', 'old'], body, now);
    expect(sentWithBoth.match(/v1=/g)).toHaveLength(2);
    expect((await verifyWebhook(sentWithBoth, body, ['old'], now)).ok).toBe(true);
    expect((await verifyWebhook(sentWithBoth, body, ['new'], now)).ok).toBe(true);
    const sentWithOld = await signWebhook('old', body, now);
    expect((await verifyWebhook(sentWithOld, body, ['new', 'old'], now)).ok).toBe(true);
  });

  it('refuses timestamps outside the tolerance, in both directions', async () => {
    const header = await signWebhook('s', body, now);
    expect((await verifyWebhook(header, body, ['s'], now + SIGNATURE_TOLERANCE_S)).ok).toBe(true);
    expect(await verifyWebhook(header, body, ['s'], now + SIGNATURE_TOLERANCE_S + 1)).toEqual({
      ok: false,
      reason: 'stale',
    });
    expect(await verifyWebhook(header, body, ['s'], now - SIGNATURE_TOLERANCE_S - 1)).toEqual({
      ok: false,
      reason: 'stale',
    });
  });

  it('refuses a missing or malformed header', async () => {
    const v1 = 'a'.repeat(64);
    expect(await verifyWebhook(undefined, body, ['s'], now)).toEqual({ ok: false, reason: 'missing' });
    expect(await verifyWebhook('', body, ['s'], now)).toEqual({ ok: false, reason: 'missing' });
    for (const header of [
      'garbage',
      `v1=${v1}`,
      `t=${now}`,
      `t=abc,v1=${v1}`,
      `t=${now},v1=${'A'.repeat(64)}`,
      `t=${now},v1=abc`,
      `t=${now},t=${now},v1=${v1}`,
      `t=${now},v1=${v1}=x`,
    ]) {
      expect(parseSignatureHeader(header), header).toBeNull();
      expect(await verifyWebhook(header, body, ['s'], now)).toEqual({ ok: false, reason: 'malformed' });
    }
  });

  it('refuses a signature of another body, time or secret', async () => {
    const header = await signWebhook('s', body, now);
    expect(await verifyWebhook(header, `${body} `, ['s'], now)).toEqual({ ok: false, reason: 'mismatch' });
    expect(await verifyWebhook(header, body, ['other'], now)).toEqual({ ok: false, reason: 'mismatch' });
    const moved = header.replace(`t=${now}`, `t=${now + 1}`);
    expect(await verifyWebhook(moved, body, ['s'], now)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('ignores other schemes beside v1, as Stripe receivers do', async () => {
    const header = await signWebhook('s', body, now);
    expect((await verifyWebhook(`${header},v0=deadbeef`, body, ['s'], now)).ok).toBe(true);
  });
});

describe('constantTimeEqual', () => {
  it('is equality of equal-length strings', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('xbc', 'abc')).toBe(false);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
  });

  it('looks at every character (a difference anywhere is found)', () => {
    const a = 'f'.repeat(64);
    for (let i = 0; i < 64; i++) {
      const b = `${a.slice(0, i)}0${a.slice(i + 1)}`;
      expect(constantTimeEqual(a, b)).toBe(false);
    }
  });
});
