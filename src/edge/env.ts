/**
 * Bindings and vars of the Worker (see wrangler.toml) and their parsed form. Vars are strings
 * set by wrangler.toml or secrets; they are parsed once per env object with zod.
 */
import { z } from 'zod';
import { ApiError } from './errors';

export interface Env {
  /** Index segments (R2); keys are built by src/edge/index-store/keys.ts. */
  INDEX_BUCKET: R2Bucket;
  /** Model packages too large for the bundle: `models/<id>/<file>` (see model-registry.ts). */
  MODELS_BUCKET: R2Bucket;
  /** Index records and catalogue. */
  INDEX_KV: KVNamespace;
  /** Caption-score cache (second tier behind the Cache API). */
  SCORE_CACHE: KVNamespace;
  DEFAULT_MODEL?: string;
  ENCODER_URL?: string;
  /** Secret: bearer token for the encoder function. */
  ENCODER_TOKEN?: string;
  /** Secret: bearer token for write and admin routes. */
  ADMIN_TOKEN?: string;
  /** "1" enables /debug/* routes (memory figures for the benchmark); never set in production. */
  DEBUG_ROUTES?: string;
  ENCODER_TIMEOUT_MS?: string;
}

/** Hono environment of the app and every sub-app. */
export interface AppEnv {
  Bindings: Env;
}

const ConfigSchema = z.object({
  DEFAULT_MODEL: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/)
    .default('koclip-tiny'),
  ADMIN_TOKEN: z.string().min(1).optional(),
  DEBUG_ROUTES: z
    .enum(['0', '1', 'true', 'false', ''])
    .default('0')
    .transform((v) => v === '1' || v === 'true'),
});

export interface Config {
  defaultModel: string;
  adminToken: string | undefined;
  debugRoutes: boolean;
}

const parsed = new WeakMap<object, Config>();

/** The parsed vars of this env (the encoder's are read by encoder-client.ts); a misconfigured Worker answers 500 `misconfigured` (and logs why). */
export function readConfig(env: Env): Config {
  const cached = parsed.get(env);
  if (cached) return cached;
  const empty = (v: string | undefined) => (v === '' ? undefined : v);
  const result = ConfigSchema.safeParse({
    DEFAULT_MODEL: empty(env.DEFAULT_MODEL),
    ADMIN_TOKEN: empty(env.ADMIN_TOKEN),
    DEBUG_ROUTES: env.DEBUG_ROUTES,
  });
  if (!result.success) {
    const fields = result.error.issues.map((i) => i.path.join('.')).join(', ');
    throw new ApiError(500, 'misconfigured', 'the service is misconfigured', {
      cause: new Error(`invalid vars: ${fields}`),
    });
  }
  const v = result.data;
  const config: Config = {
    defaultModel: v.DEFAULT_MODEL,
    adminToken: v.ADMIN_TOKEN,
    debugRoutes: v.DEBUG_ROUTES,
  };
  parsed.set(env, config);
  return config;
}
