/**
 * The collections API (admin) as the migration CLI calls it: every request goes through the bulk
 * CLI's requestWithRetry (429, 5xx and network errors retried with backoff), every answer is
 * parsed with the core contract (src/core/contract/collection-schemas.ts). A refusal in the error
 * envelope is an ApiError with the service's code; anything else is a ContractError that says
 * what was out of contract.
 */
import type { z } from 'zod';
import {
  type Collection,
  CollectionSchema,
  type Migration,
  MigrationSchema,
} from '../../src/core/contract/collection-schemas';
import { ErrorEnvelopeSchema } from '../../src/core/contract/errors';
import { RateLimiter, type RetryOptions, requestWithRetry, Stopped } from '../index/http';

/** The service refused: `code` and `message` from its error envelope. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** An answer the contract does not allow (status or body). */
export class ContractError extends Error {}

export interface AdminApiOptions {
  /** The Worker, e.g. http://127.0.0.1:8787. */
  url: string;
  /** ADMIN_TOKEN. */
  token: string;
  /** Tries after the first one (default 8). */
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per attempt (default 30 s). */
  timeoutMs?: number;
  /** Aborting makes every call reject with Stopped at once (a request in flight is left unheard). */
  signal?: AbortSignal;
  onRetry?: RetryOptions['onRetry'];
}

export interface AdminApi {
  collection(name: string): Promise<Collection>;
  startMigration(name: string, to: string): Promise<Migration>;
  migration(name: string, id: string): Promise<Migration>;
  rollback(name: string, id: string): Promise<Migration>;
}

const issues = (error: z.ZodError) =>
  error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
    .join('; ');

/** One admin request: `expected` status parsed with `schema`, a refusal thrown as ApiError. */
export type AdminCall = <T>(
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  expected: number,
  schema: z.ZodType<T>,
  body?: unknown,
) => Promise<T>;

/**
 * Admin requests to the Worker with the token, retries and stop signal of `options`; shared by
 * the migration CLI and the keys CLI (scripts/keys).
 */
export function adminCaller(options: AdminApiOptions): AdminCall {
  const base = options.url.replace(/\/+$/, '');
  const retry: RetryOptions = {
    retries: options.retries ?? 8,
    baseDelayMs: options.baseDelayMs ?? 500,
    maxDelayMs: options.maxDelayMs ?? 10_000,
    timeoutMs: options.timeoutMs ?? 30_000,
    limiter: new RateLimiter(0),
    signal: options.signal,
    onRetry: options.onRetry,
  };

  const call: AdminCall = (method, path, expected, schema, body) => {
    const signal = options.signal;
    if (!signal) return send(method, path, expected, schema, body);
    if (signal.aborted) return Promise.reject(new Stopped());
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(new Stopped());
      signal.addEventListener('abort', onAbort, { once: true });
      send(method, path, expected, schema, body)
        .then(resolve, reject)
        .finally(() => signal.removeEventListener('abort', onAbort));
    });
  };

  async function send<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    expected: number,
    schema: z.ZodType<T>,
    body?: unknown,
  ): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${options.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const answer = await requestWithRetry(
      async () => ({
        url: `${base}${path}`,
        init: { method, headers, body: body === undefined ? undefined : JSON.stringify(body) },
      }),
      retry,
    );
    const what = `${method} ${path} answered ${answer.status}`;
    if (answer.status === expected) {
      const parsed = schema.safeParse(answer.body);
      if (parsed.success) return parsed.data;
      throw new ContractError(`${what} out of contract: ${issues(parsed.error)}`);
    }
    const refusal = ErrorEnvelopeSchema.safeParse(answer.body);
    if (refusal.success && answer.status >= 400) {
      throw new ApiError(answer.status, refusal.data.error.code, refusal.data.error.message);
    }
    throw new ContractError(
      `${what} (expected ${expected} or an error envelope): ${answer.text.slice(0, 200) || '(empty body)'}`,
    );
  }
  return call;
}

export function adminApi(options: AdminApiOptions): AdminApi {
  const call = adminCaller(options);
  const at = (name: string) => `/v1/collections/${encodeURIComponent(name)}`;
  const migrationAt = (name: string, id: string) => `${at(name)}/migrations/${encodeURIComponent(id)}`;
  return {
    collection: (name) => call('GET', at(name), 200, CollectionSchema),
    startMigration: (name, to) => call('POST', `${at(name)}/migrations`, 202, MigrationSchema, { to }),
    migration: (name, id) => call('GET', migrationAt(name, id), 200, MigrationSchema),
    rollback: (name, id) => call('POST', `${migrationAt(name, id)}/rollback`, 200, MigrationSchema),
  };
}
