/**
 * The keys CLI as a function of its arguments and streams, returning the exit code, so that tests
 * run it in-process; main.ts is the entry (commands, options and exit codes are described there).
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import {
  CreatedKeySchema,
  type CreateKeyBody,
  CreateKeyBodySchema,
  KEY_ID_PATTERN,
  type KeyView,
  KeyViewSchema,
} from '../../src/core/contract/key-schemas';
import { adminTarget, usage, withUsage } from '../index/admin-cli';
import { ApiError, adminCaller, ContractError } from '../migrate/admin-api';

const USAGE =
  'usage: npm run keys -- create --name N --scopes search[,ingest,admin] [--collections a,b] [--origins https://x]\n' +
  '                              [--expires-at ISO] [--requests-per-day N] [--encoder-per-day N]\n' +
  '       npm run keys -- list\n' +
  '       npm run keys -- revoke <id>\n' +
  '  options: [--url URL] [--token ADMIN_TOKEN] [--retries N]\n';

/** The answer of GET /v1/keys. */
const KeyListSchema = z.object({ object: z.literal('list'), data: z.array(KeyViewSchema) });

export interface CliIo {
  /** The result: the secret of a created key, the table, the revoked key's id. */
  stdout: NodeJS.WritableStream;
  /** Notes and errors. */
  stderr: NodeJS.WritableStream;
  env: Record<string, string | undefined>;
}

function parse(args: string[]) {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      options: {
        name: { type: 'string' },
        scopes: { type: 'string' },
        collections: { type: 'string' },
        origins: { type: 'string' },
        'expires-at': { type: 'string' },
        'requests-per-day': { type: 'string' },
        'encoder-per-day': { type: 'string' },
        url: { type: 'string' },
        token: { type: 'string' },
        retries: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    usage((error as Error).message);
  }
}

type Values = ReturnType<typeof parse>['values'];

const list = (value: string | undefined) =>
  value
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function count(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1)
    usage(`--${name} must be a whole number >= 1`);
  return n;
}

/** The body of POST /v1/keys from the options, checked with the contract's schema. */
function createBody(values: Values): CreateKeyBody {
  if (values.name === undefined) usage('create needs --name');
  if (values.scopes === undefined) usage('create needs --scopes (search, ingest, admin; comma-separated)');
  const requests = count('requests-per-day', values['requests-per-day']);
  const encoder = count('encoder-per-day', values['encoder-per-day']);
  const limits =
    requests === undefined && encoder === undefined
      ? undefined
      : {
          ...(requests === undefined ? {} : { requests_per_day: requests }),
          ...(encoder === undefined ? {} : { encoder_per_day: encoder }),
        };
  let expires = values['expires-at'];
  // A date alone means its start, in UTC.
  if (expires && /^\d{4}-\d{2}-\d{2}$/.test(expires)) expires = `${expires}T00:00:00Z`;
  const body = {
    name: values.name,
    scopes: list(values.scopes),
    ...(values.collections === undefined ? {} : { collections: list(values.collections) }),
    ...(values.origins === undefined ? {} : { origins: list(values.origins) }),
    ...(expires === undefined ? {} : { expires_at: expires }),
    ...(limits ? { limits } : {}),
  };
  const parsed = CreateKeyBodySchema.safeParse(body);
  if (!parsed.success) {
    const option = (path: PropertyKey[]) =>
      `--${String(path[0] ?? 'body')
        .replace(/_/g, '-')
        .replace(/^limits$/, String(path[1] ?? 'limits').replace(/_/g, '-'))}`;
    usage(
      parsed.error.issues
        .slice(0, 3)
        .map((i) => `${option(i.path)}: ${i.message}`)
        .join('; '),
    );
  }
  return parsed.data;
}

const dash = (v: string | null | undefined) => (v === null || v === undefined || v === '' ? '-' : v);

/** `2026-01-01T00:00:00.000Z` as `2026-01-01 00:00Z`. */
const shortTime = (iso: string | null) => (iso === null ? '-' : `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`);

function usageOf(k: KeyView): string {
  const of = (n: number, limit: number | undefined) => (limit === undefined ? `${n}` : `${n}/${limit}`);
  return `${of(k.usage_today.requests, k.limits.requests_per_day)} req, ${of(k.usage_today.encoder, k.limits.encoder_per_day)} enc`;
}

/** The keys as a table, one line each, columns padded to their widest cell. */
export function keysTable(keys: KeyView[], now = Date.now()): string {
  const header = ['ID', 'NAME', 'SCOPES', 'COLLECTIONS', 'EXPIRES', 'REVOKED', 'USAGE TODAY'];
  const rows = keys.map((k) => [
    k.id,
    k.name,
    k.scopes.join(','),
    k.collections ? k.collections.join(',') : '(all)',
    k.expires_at === null
      ? 'never'
      : `${shortTime(k.expires_at)}${Date.parse(k.expires_at) <= now ? ' (expired)' : ''}`,
    dash(shortTime(k.revoked_at)),
    usageOf(k),
  ]);
  const table = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...table.map((r) => (r[i] as string).length)));
  return table
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] as number)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function describe(k: KeyView): string {
  const parts = [
    `scopes ${k.scopes.join(',')}`,
    `collections ${k.collections ? k.collections.join(',') : '(all)'}`,
    ...(k.origins ? [`origins ${k.origins.join(',')}`] : []),
    `expires ${k.expires_at ?? 'never'}`,
    ...(k.limits.requests_per_day === undefined ? [] : [`${k.limits.requests_per_day} requests/day`]),
    ...(k.limits.encoder_per_day === undefined ? [] : [`${k.limits.encoder_per_day} encoder/day`]),
  ];
  return `${k.id} "${k.name}": ${parts.join(', ')}`;
}

/** What a refusal means to the operator. */
function explain(error: ApiError): string {
  const said = `${error.status} ${error.code}: ${error.message}`;
  if (error.status === 401)
    return `the token was refused (${said}); give the Worker's ADMIN_TOKEN (or an admin key) with --token or ADMIN_TOKEN`;
  if (error.code === 'insufficient_scope')
    return `${said}; managing keys needs the admin token or an admin key bound to no collection`;
  return said;
}

/** Runs `npm run keys -- <argv>` and returns its exit code (main.ts passes the process's streams). */
export function runKeysCli(argv: string[], io: CliIo): Promise<number> {
  return withUsage(USAGE, io.stderr, () => run(argv, io));
}

const CREATE_ONLY = [
  'name',
  'scopes',
  'collections',
  'origins',
  'expires-at',
  'requests-per-day',
  'encoder-per-day',
] as const;

async function run(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv);
  if (values.help) usage();
  const [command, ...rest] = positionals;
  if (command === undefined) usage('give a command: create, list or revoke');
  if (!['create', 'list', 'revoke'].includes(command)) usage(`unknown command ${command}`);
  if (command !== 'create') {
    const misplaced = CREATE_ONLY.find((o) => values[o] !== undefined);
    if (misplaced) usage(`--${misplaced} is an option of create`);
  }
  if (command === 'revoke') {
    if (rest.length !== 1) usage('revoke needs exactly one key id (k_ and 16 hex digits; see list)');
    if (!KEY_ID_PATTERN.test(rest[0] as string)) usage(`${rest[0]} is not a key id (k_ and 16 hex digits)`);
  } else if (rest.length > 0) {
    usage(`${command} takes no argument (${rest.join(' ')})`);
  }
  const body = command === 'create' ? createBody(values) : undefined;
  const { url, token, retries } = adminTarget(values, io.env, 2);

  const call = adminCaller({
    url,
    token,
    retries,
    onRetry: (reason, attempt, delay) =>
      io.stderr.write(`retrying (${reason}), try ${attempt + 1} in ${Math.round(delay)} ms\n`),
  });
  const out = (text: string) => io.stdout.write(`${text}\n`);
  try {
    if (command === 'create') {
      const created = await call('POST', '/v1/keys', 201, CreatedKeySchema, body);
      io.stderr.write(
        `created ${describe(created)}\n` +
          'the secret below is shown this once: store it now (the service keeps only its hash)\n',
      );
      out(created.key);
      return 0;
    }
    if (command === 'list') {
      const { data } = await call('GET', '/v1/keys', 200, KeyListSchema);
      if (data.length === 0) io.stderr.write(`no API keys at ${url}\n`);
      else out(keysTable(data));
      return 0;
    }
    const id = rest[0] as string;
    const revoked = await call('DELETE', `/v1/keys/${id}`, 200, KeyViewSchema);
    out(`revoked ${revoked.id} "${revoked.name}" at ${revoked.revoked_at}`);
    io.stderr.write('every Worker isolate refuses it within KEY_CACHE_S seconds (5 by default)\n');
    return 0;
  } catch (error) {
    if (error instanceof ApiError) {
      io.stderr.write(`error: ${explain(error)}\n`);
      return 1;
    }
    if (error instanceof ContractError) {
      io.stderr.write(`error: the service's answer is out of contract: ${error.message}\n`);
      return 1;
    }
    io.stderr.write(`error: no answer from ${url}: ${(error as Error).message}\n`);
    return 1;
  }
}
