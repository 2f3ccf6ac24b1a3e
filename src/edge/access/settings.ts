/**
 * The access settings of the Worker (vars in wrangler.toml; `npm start` passes its own):
 * AUTH_MODE, how long isolates trust a cached key, burst limiting on or off, the anonymous
 * callers' daily quotas in `open` mode, and the origins admitted to the admin and ingest routes.
 */
import { z } from 'zod';
import { type Env, parseVars } from '../env';

const SettingsSchema = z.object({
  /** `keys`: every /v1 route needs a key or the admin token. `open`: read routes are anonymous. */
  AUTH_MODE: z.enum(['open', 'keys']).default('keys'),
  /** Seconds an isolate answers from its cached copy of a key (revocation is seen within this). */
  KEY_CACHE_S: z.coerce.number().int().min(0).max(60).default(5),
  /** Burst limits through the RATE_LIMIT binding, per key (and per client IP in `open` mode). */
  RATE_LIMITS: z.enum(['on', 'off']).default('on'),
  /** Daily quotas of one anonymous client IP in `open` mode (0: none). */
  ANON_REQUESTS_PER_DAY: z.coerce.number().int().min(0).default(0),
  ANON_ENCODER_PER_DAY: z.coerce.number().int().min(0).default(0),
  /** Comma-separated origins whose browsers may call the admin and ingest routes (default none). */
  CORS_ADMIN_ORIGINS: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    ),
});
export type AccessSettings = z.infer<typeof SettingsSchema>;

const cache = new WeakMap<object, AccessSettings>();

/** The access settings of this env (parsed once per env object). */
export function accessSettings(env: Env): AccessSettings {
  let settings = cache.get(env);
  if (!settings) {
    settings = parseVars(SettingsSchema, env);
    cache.set(env, settings);
  }
  return settings;
}
