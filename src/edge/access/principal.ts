/**
 * Who is calling: the admin token (ADMIN_TOKEN, the root credential), an API key of the registry,
 * or nobody. A key is looked up by the id its secret carries, checked against the stored SHA-256
 * in constant time, and cached in the isolate for KEY_CACHE_S (hits and misses alike), so a
 * revocation or a new key is seen by every isolate within that time. A credential that is sent
 * but wrong is refused, never treated as anonymous.
 */
import type { Context } from 'hono';
import { BEARER_TOKEN_PATTERN } from '../../core/contract/encoder-api';
import type { Scope } from '../../core/contract/key-schemas';
import { type AppEnv, type Env, readConfig } from '../env';
import { ApiError } from '../http/errors';
import { type KeyRecord, keyRegistry } from './key-registry';
import { keyIdOf, sameDigest, sha256Hex } from './secrets';
import { accessSettings } from './settings';

export type Principal =
  | { kind: 'admin' }
  | { kind: 'key'; key: KeyRecord }
  | { kind: 'anonymous'; ip: string | null };

/** The caller's id for logs, limits and quotas: `admin`, `key:<id>`, `ip:<address>` or `anonymous`. */
export function callerOf(p: Principal): string {
  if (p.kind === 'admin') return 'admin';
  if (p.kind === 'key') return `key:${p.key.id}`;
  return p.ip ? `ip:${p.ip}` : 'anonymous';
}

/** Whether `p` holds `scope` (`admin` holds every scope). */
export function holds(p: Principal, scope: Scope): boolean {
  if (p.kind === 'admin') return true;
  if (p.kind !== 'key') return false;
  return p.key.scopes.includes('admin') || p.key.scopes.includes(scope);
}

const unauthorized = (message: string, code = 'unauthorized') =>
  new ApiError(401, code, message, { headers: { 'WWW-Authenticate': 'Bearer' } });

interface Cached {
  record: KeyRecord | null;
  at: number;
}
/** Per isolate; bounded, cleared whole when full (keys are few, a spray of unknown ids is not). */
const keyCache = new Map<string, Cached>();
const KEY_CACHE_MAX = 5_000;

/** Drops the isolate's cached copy of a key (after this isolate revoked it). */
export function forgetKey(id: string): void {
  keyCache.delete(id);
}

async function lookUp(env: Env, id: string): Promise<KeyRecord | null> {
  const ttlMs = accessSettings(env).KEY_CACHE_S * 1000;
  const hit = keyCache.get(id);
  if (hit && Date.now() - hit.at < ttlMs) return hit.record;
  const record = await keyRegistry(env).get(id);
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
  keyCache.set(id, { record, at: Date.now() });
  return record;
}

/** ADMIN_TOKEN's digest, made once per token value rather than per request. */
let adminCached: { token: string; digest: Promise<string> } | undefined;
function adminDigest(token: string): Promise<string> {
  if (adminCached?.token !== token) adminCached = { token, digest: sha256Hex(token) };
  return adminCached.digest;
}

/** The client address Cloudflare reports (absent outside Cloudflare and in tests). */
export function clientIp(c: Context<AppEnv>): string | null {
  return c.req.header('CF-Connecting-IP') ?? null;
}

function originOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** Identifies the caller of this request; 401/403 for a credential that is sent and not good. */
export async function identify(c: Context<AppEnv>): Promise<Principal> {
  const header = c.req.header('Authorization');
  if (header === undefined) return { kind: 'anonymous', ip: clientIp(c) };
  const m = /^Bearer +(\S+)$/i.exec(header.trim());
  const token = m?.[1];
  const id = token ? keyIdOf(token) : null;
  const admin = readConfig(c.env).adminToken;
  if (id === null && (!admin || !BEARER_TOKEN_PATTERN.test(admin))) {
    // Not a key, and no admin token that a bearer header could carry: the routes are closed.
    throw new ApiError(
      503,
      'admin_not_configured',
      'this Worker needs ADMIN_TOKEN (letters, digits, - . _ ~ + /) to be set to accept it',
    );
  }
  if (!token || !BEARER_TOKEN_PATTERN.test(token)) {
    throw unauthorized('send Authorization: Bearer <API key or admin token>');
  }
  const digest = await sha256Hex(token);
  if (id === null && admin && sameDigest(digest, await adminDigest(admin))) return { kind: 'admin' };

  const record = id ? await lookUp(c.env, id) : null;
  if (!record || !sameDigest(digest, record.hash)) throw unauthorized('unknown API key or admin token');
  if (record.revoked_at !== null) throw unauthorized(`API key ${record.id} was revoked`, 'key_revoked');
  if (record.expires_at !== null && record.expires_at <= Date.now()) {
    throw unauthorized(`API key ${record.id} expired`, 'key_expired');
  }
  if (record.origins) {
    // Browsers send no Origin on a same-origin GET; their Referer names the page's origin then.
    const origin = c.req.header('Origin') ?? originOf(c.req.header('Referer'));
    if (!origin || !record.origins.includes(origin)) {
      throw new ApiError(403, 'origin_not_allowed', `API key ${record.id} is only usable from its origins`);
    }
  }
  return { kind: 'key', key: record };
}
