/**
 * The API keys' contract (POST/GET/DELETE /v1/keys, `npm run keys`): scopes, the body that creates
 * a key, and the key as listed (never its secret, which only the creating answer carries).
 */
import { z } from 'zod';
import { CollectionSchema } from './ids';

/**
 * What a key may do: `search` the read routes (embeddings, search, score, patches, an image's
 * original, models), `ingest` the write routes (uploads, status, deletes), `admin` everything
 * (keys, stats, collections).
 */
export const SCOPES = ['search', 'ingest', 'admin'] as const;
export const ScopeSchema = z.enum(SCOPES);
export type Scope = z.infer<typeof ScopeSchema>;

/** A browser origin: scheme, host and optional port, nothing else (`https://shop.example`). */
export const OriginSchema = z
  .string()
  .max(200)
  .regex(/^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/, 'an origin is scheme://host[:port], lowercase, no path');

/** Daily quotas of one key, counted exactly per UTC day; absent = no quota. */
export const KeyLimitsSchema = z.strictObject({
  /** Requests per UTC day, on every route. */
  requests_per_day: z.int().min(1).max(1_000_000_000).optional(),
  /** Encoder work per UTC day: query images fetched or decoded (search, score, patches by image). */
  encoder_per_day: z.int().min(1).max(1_000_000_000).optional(),
});
export type KeyLimits = z.infer<typeof KeyLimitsSchema>;

export const CreateKeyBodySchema = z
  .strictObject({
    name: z.string().min(1).max(100),
    scopes: z.array(ScopeSchema).min(1).max(SCOPES.length),
    /** Collections the key may touch; absent = all. */
    collections: z.array(CollectionSchema).min(1).max(100).optional(),
    /** Browser origins the key may be used from (only for `search` keys); absent = any caller. */
    origins: z.array(OriginSchema).min(1).max(20).optional(),
    expires_at: z.iso.datetime({ offset: true }).optional(),
    limits: KeyLimitsSchema.optional(),
  })
  .refine((b) => !b.origins || b.scopes.every((s) => s === 'search'), {
    message: 'a key with origins is used in browsers and may only have the search scope',
    path: ['origins'],
  })
  .refine((b) => !b.expires_at || Date.parse(b.expires_at) > Date.now(), {
    message: 'expires_at is in the past',
    path: ['expires_at'],
  });
export type CreateKeyBody = z.infer<typeof CreateKeyBodySchema>;

/** Key ids: `k_` and 16 lowercase hex digits. */
export const KEY_ID_PATTERN = /^k_[0-9a-f]{16}$/;
export const KeyIdSchema = z.string().regex(KEY_ID_PATTERN, 'a key id is k_ and 16 hex digits');

/** A key as listed: everything but its secret. */
export const KeyViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  /** The secret's first characters, to tell keys apart (`koclip_<16 hex>_Xq…`). */
  prefix: z.string(),
  scopes: z.array(ScopeSchema),
  collections: z.array(z.string()).nullable(),
  origins: z.array(z.string()).nullable(),
  expires_at: z.string().nullable(),
  limits: KeyLimitsSchema,
  created_at: z.string(),
  revoked_at: z.string().nullable(),
  /** Today's (UTC) counted usage, when the key has a quota or was used. */
  usage_today: z.object({ requests: z.number(), encoder: z.number() }),
});
export type KeyView = z.infer<typeof KeyViewSchema>;

/** The answer of POST /v1/keys: the key and its secret, shown this once. */
export const CreatedKeySchema = KeyViewSchema.extend({ key: z.string() });
export type CreatedKey = z.infer<typeof CreatedKeySchema>;
