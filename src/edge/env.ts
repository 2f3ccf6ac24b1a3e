/**
 * Bindings, vars and secrets of the Worker and their parsed form. Vars are strings set by
 * wrangler.toml or secrets; they are parsed once per env object with zod.
 */
import { z } from 'zod';
import { ModelIdSchema } from '../core/contract/ids';
import { ApiError } from './http/errors';

/**
 * The Worker's bindings, vars and secrets: generated from wrangler.toml and .dev.vars.example by
 * `npm run types:edge` into ./worker-configuration.d.ts; `npm test` checks that it is current.
 */
export type Env = Cloudflare.Env;

/** Hono environment of the app and every sub-app. */
export interface AppEnv {
  Bindings: Env;
}

const ConfigSchema = z.object({
  DEFAULT_MODEL: ModelIdSchema.default('koclip-tiny'),
  ADMIN_TOKEN: z.string().min(1).optional(),
  DEBUG_ROUTES: z
    .enum(['0', '1', 'true', 'false', ''])
    .default('0')
    .transform((v) => v === '1' || v === 'true'),
});

/**
 * Parses some of the Worker's vars with `schema` (its keys name them; an unset or empty var is
 * absent, so the schema's default applies); a bad value is 500 `misconfigured` naming the var
 * in the log, never in the answer. For the settings a capability reads itself (the queue's
 * backoff, the reconciler, migrations).
 */
export function parseVars<S extends z.ZodObject>(schema: S, env: object): z.infer<S> {
  const vars = env as Record<string, unknown>;
  const given = Object.fromEntries(
    Object.keys(schema.shape).flatMap((k) => (vars[k] === undefined || vars[k] === '' ? [] : [[k, vars[k]]])),
  );
  const result = schema.safeParse(given);
  if (!result.success) {
    const fields = result.error.issues.map((i) => i.path.join('.')).join(', ');
    throw new ApiError(500, 'misconfigured', 'the service is misconfigured', {
      cause: new Error(`invalid vars: ${fields}`),
    });
  }
  return result.data;
}

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
