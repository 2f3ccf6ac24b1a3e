/**
 * The webhook signature users implement (Stripe's scheme): header
 * `X-KoCLIP-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, several
 * `v1=` during a secret rotation, a 300 s tolerance, constant-time comparison. The Worker verifies
 * with it and the bulk CLI signs with it. Web Crypto only: runtime-free.
 */
import { toHex } from '../hash';

export const SIGNATURE_HEADER = 'X-KoCLIP-Signature';
export const SIGNATURE_TOLERANCE_S = 300;

const encoder = new TextEncoder();

/** `<t>.<body>` as the bytes that are signed: the body's own bytes, never a decoding of them. */
function signedBytes(t: number, body: string | Uint8Array): Uint8Array {
  const prefix = encoder.encode(`${t}.`);
  const bytes = typeof body === 'string' ? encoder.encode(body) : body;
  const message = new Uint8Array(prefix.length + bytes.length);
  message.set(prefix);
  message.set(bytes, prefix.length);
  return message;
}

async function hmacHex(secret: string, message: Uint8Array): Promise<string> {
  const key = await crypto.subtle.importKey(
    'raw',
    encoder.encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  return toHex(new Uint8Array(await crypto.subtle.sign('HMAC', key, message)));
}

/**
 * The header value for `body` signed at `t` (unix seconds) with each of `secrets`; a string body
 * is signed as its UTF-8 bytes, which is what a client sends.
 */
export async function signWebhook(
  secrets: string | readonly string[],
  body: string | Uint8Array,
  t = Math.floor(Date.now() / 1000),
): Promise<string> {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  const sigs = await Promise.all(list.map((s) => hmacHex(s, signedBytes(t, body))));
  return [`t=${t}`, ...sigs.map((v) => `v1=${v}`)].join(',');
}

export interface ParsedSignature {
  t: number;
  v1: string[];
}

/** Parses `t=...,v1=...[,v1=...]`; null when malformed (no t, no v1, or not hex). */
export function parseSignatureHeader(header: string | null | undefined): ParsedSignature | null {
  if (!header || header.length > 4096) return null;
  let t: number | undefined;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const [key, value, ...rest] = part.trim().split('=');
    if (rest.length > 0 || value === undefined) return null;
    if (key === 't') {
      if (!/^\d{1,12}$/.test(value) || t !== undefined) return null;
      t = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-f]{64}$/.test(value)) return null;
      v1.push(value);
    }
    // Other schemes (v0, v2...) are ignored, as Stripe's receivers do.
  }
  if (t === undefined || v1.length === 0 || v1.length > 8) return null;
  return { t, v1 };
}

/** Equality of two equal-length hex strings in time independent of where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

export type SignatureCheck =
  | { ok: true; t: number; signature: string }
  | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'mismatch' };

/**
 * Verifies a header against the raw body (the request's bytes, as received: a BOM or bytes that
 * are not UTF-8 are signed like any other) with any of `secrets` (rotation on the receiving side)
 * and any of its `v1` (rotation on the sending side). `signature` is the matching v1, for the
 * replay guard.
 */
export async function verifyWebhook(
  header: string | null | undefined,
  body: string | Uint8Array,
  secrets: readonly string[],
  nowS = Math.floor(Date.now() / 1000),
  toleranceS = SIGNATURE_TOLERANCE_S,
): Promise<SignatureCheck> {
  if (!header) return { ok: false, reason: 'missing' };
  const parsed = parseSignatureHeader(header);
  if (!parsed) return { ok: false, reason: 'malformed' };
  if (Math.abs(nowS - parsed.t) > toleranceS) return { ok: false, reason: 'stale' };
  let match: string | undefined;
  for (const secret of secrets) {
    const expected = await hmacHex(secret, signedBytes(parsed.t, body));
    // Every candidate is compared (no early exit on the first match), in constant time each.
    for (const candidate of parsed.v1) if (constantTimeEqual(candidate, expected)) match ??= candidate;
  }
  return match ? { ok: true, t: parsed.t, signature: match } : { ok: false, reason: 'mismatch' };
}
