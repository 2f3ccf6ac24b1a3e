/**
 * The keys API (admin token, or an admin key bound to no collection): POST /v1/keys creates a key
 * and answers its secret this once, GET /v1/keys lists them with today's usage (never a secret),
 * DELETE /v1/keys/{id} revokes one.
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import {
  CreatedKeySchema,
  CreateKeyBodySchema,
  KeyIdSchema,
  type KeyView,
  KeyViewSchema,
} from '../../core/contract/key-schemas';
import { KEYS } from '../docs/examples';
import type { AppEnv, Env } from '../env';
import { ApiError, validationHook } from '../http/errors';
import { documented, errorResponse } from '../http/openapi';
import { type KeyRecord, keyRegistry } from './key-registry';
import { forgetKey } from './principal';
import { newKey, sha256Hex } from './secrets';
import { usageCounter } from './usage-counter';

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const ApiKey = z.object(KeyViewSchema.shape).openapi('ApiKey');
const CreatedKey = z.object(CreatedKeySchema.shape).openapi('CreatedApiKey');
const security = [{ bearer: [] }];
const authErrors = {
  401: errorResponse('Missing or wrong credential (`unauthorized`, `key_revoked`, `key_expired`)'),
  403: errorResponse('A key without the admin scope, or bound to collections (`insufficient_scope`)'),
  429: errorResponse('Burst limit or daily quota passed (`rate_limited`, `quota_exceeded`); see Retry-After'),
};

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

async function view(env: Env, r: KeyRecord): Promise<KeyView> {
  const usage = await usageCounter(env, `key:${r.id}`).today();
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    scopes: r.scopes,
    collections: r.collections,
    origins: r.origins,
    expires_at: iso(r.expires_at),
    limits: r.limits,
    created_at: new Date(r.created_at).toISOString(),
    revoked_at: iso(r.revoked_at),
    usage_today: { requests: usage.requests, encoder: usage.encoder },
  };
}

app.openapi(
  createRoute({
    method: 'post',
    path: '/v1/keys',
    summary: 'Create an API key (its secret is answered this once)',
    security,
    request: {
      body: {
        content: { 'application/json': { schema: CreateKeyBodySchema, example: KEYS.create } },
        required: true,
      },
    },
    responses: {
      201: {
        description: 'The key, with its secret in `key`',
        content: { 'application/json': { schema: CreatedKey, example: KEYS.created } },
      },
      400: errorResponse('Invalid body'),
      ...authErrors,
      507: errorResponse('The registry is full (`too_many_keys`)'),
    },
  }),
  async (c) => {
    const body = c.req.valid('json');
    const { id, secret, prefix } = newKey();
    const record: KeyRecord = {
      id,
      name: body.name,
      hash: await sha256Hex(secret),
      prefix,
      scopes: [...new Set(body.scopes)],
      collections: body.collections ? [...new Set(body.collections)] : null,
      origins: body.origins ? [...new Set(body.origins)] : null,
      expires_at: body.expires_at ? Date.parse(body.expires_at) : null,
      limits: body.limits ?? {},
      created_at: Date.now(),
      revoked_at: null,
    };
    if (!(await keyRegistry(c.env).create(record))) {
      throw new ApiError(507, 'too_many_keys', 'the key registry is full; revoke keys you no longer use');
    }
    return c.json({ ...(await view(c.env, record)), key: secret }, 201);
  },
);

app.openapi(
  createRoute({
    method: 'get',
    path: '/v1/keys',
    summary: 'List the API keys (never their secrets) with their usage today',
    security,
    responses: {
      200: {
        description: 'Every key, newest first, revoked ones included',
        content: {
          'application/json': {
            schema: z.object({ object: z.literal('list'), data: z.array(ApiKey) }),
            example: KEYS.list,
          },
        },
      },
      ...authErrors,
    },
  }),
  async (c) => {
    const records = await keyRegistry(c.env).list();
    return c.json(
      { object: 'list' as const, data: await Promise.all(records.map((r) => view(c.env, r))) },
      200,
    );
  },
);

app.openapi(
  createRoute({
    method: 'delete',
    path: '/v1/keys/{id}',
    summary: 'Revoke an API key (every isolate refuses it within KEY_CACHE_S seconds)',
    security,
    request: {
      params: z.object({
        id: documented(KeyIdSchema, { param: { name: 'id', in: 'path' }, example: 'k_0123456789abcdef' }),
      }),
    },
    responses: {
      200: {
        description: 'The revoked key',
        content: { 'application/json': { schema: ApiKey, example: KEYS.revoked } },
      },
      400: errorResponse('Invalid key id'),
      ...authErrors,
      404: errorResponse('No such key (`key_not_found`)'),
    },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const record = await keyRegistry(c.env).revoke(id);
    if (!record) throw new ApiError(404, 'key_not_found', `no API key ${id}`);
    forgetKey(id);
    return c.json(await view(c.env, record), 200);
  },
);

export default app;
