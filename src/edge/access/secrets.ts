/**
 * API key secrets: their format (`koclip_<16 hex id>_<43 base64url>`, 256 random bits), the
 * SHA-256 that the registry stores instead, and the constant-time comparison of two digests.
 * Hand-written because it is four Web Crypto calls; no library is needed for that.
 */

const KEY_PATTERN = /^koclip_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** The key id a secret names (`k_<hex>`), or null when it is not shaped like a key. */
export function keyIdOf(secret: string): string | null {
  const m = KEY_PATTERN.exec(secret);
  return m ? `k_${m[1]}` : null;
}

const hex = (bytes: ArrayBuffer) =>
  [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('');

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A new key: its id, its secret (shown once) and the prefix listed beside it. */
export function newKey(): { id: string; secret: string; prefix: string } {
  const idHex = hex(crypto.getRandomValues(new Uint8Array(8)).buffer as ArrayBuffer);
  const secret = `koclip_${idHex}_${base64url(crypto.getRandomValues(new Uint8Array(32)))}`;
  return { id: `k_${idHex}`, secret, prefix: `${secret.slice(0, 27)}…` };
}

/** Lowercase hex SHA-256 of a UTF-8 string. */
export async function sha256Hex(text: string): Promise<string> {
  return hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}

/** Whether two equal-length hex digests are equal, in time that does not depend on where they differ. */
export function sameDigest(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  if (x.byteLength !== y.byteLength) return false;
  return crypto.subtle.timingSafeEqual(x, y);
}
