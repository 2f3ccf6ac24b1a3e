/**
 * The keys CLI (scripts/keys) end to end against a real `wrangler dev` Worker in AUTH_MODE=keys
 * (no encoder: managing and checking keys needs none): a key created with the CLI (as a
 * process, the secret alone on stdout) opens the read routes and nothing else, list shows it
 * with its usage, revoke refuses it within KEY_CACHE_S; bad options exit 2 with nothing sent, a
 * refused token exits 1. One Worker for the whole file.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeysCli } from '../../scripts/keys/cli';
import { ROOT, startWorker, TS_RUNNER, type WorkerProcess } from '../../scripts/stack/index';

const ADMIN_TOKEN = 'keys-e2e-admin-token-0123';
const KEY_CACHE_S = 5;
const SECRET = /^koclip_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/;

let worker: WorkerProcess;

beforeAll(async () => {
  worker = await startWorker({
    vars: { AUTH_MODE: 'keys', ADMIN_TOKEN, KEY_CACHE_S: String(KEY_CACHE_S) },
    logLevel: 'warn',
  });
}, 180_000);

afterAll(async () => {
  await worker?.stop();
});

type Ran = { code: number | null; stdout: string; stderr: string };

/** `npm run keys` as a process (the entry and its exit code), its URL and token from the environment. */
function spawnCli(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  const child = spawn(TS_RUNNER, ['scripts/keys/main.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', KOCLIP_URL: worker.url, ADMIN_TOKEN, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

function sink() {
  const stream = {
    text: '',
    write(chunk: string | Uint8Array) {
      stream.text += chunk.toString();
      return true;
    },
  };
  return stream;
}

/** The CLI in-process with `args`, the Worker's URL and (unless given) the admin token. */
async function keys(args: string[], env: Record<string, string | undefined> = {}): Promise<Ran> {
  const stdout = sink();
  const stderr = sink();
  const code = await runKeysCli(args, {
    stdout: stdout as unknown as NodeJS.WritableStream,
    stderr: stderr as unknown as NodeJS.WritableStream,
    env: { KOCLIP_URL: worker.url, ADMIN_TOKEN, ...env },
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

async function call(path: string, secret?: string, init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  if (secret) headers.set('authorization', `Bearer ${secret}`);
  const res = await fetch(`${worker.url}${path}`, { ...init, headers });
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    // not JSON
  }
  return { status: res.status, code, text };
}

describe('npm run keys against a Worker in AUTH_MODE=keys', () => {
  let secret: string;
  let id: string;

  it('creates a key: the secret alone on stdout, shown once, its settings on stderr', async () => {
    // Anonymous reads are refused in keys mode.
    expect((await call('/v1/models')).code).toBe('unauthorized');
    const ran = await spawnCli([
      'create',
      '--name',
      'e2e search',
      '--scopes',
      'search',
      '--collections',
      'default,photos',
      '--requests-per-day',
      '100',
    ]);
    expect(ran.code, ran.stderr).toBe(0);
    secret = ran.stdout.trim();
    expect(secret).toMatch(SECRET);
    expect(ran.stdout).toBe(`${secret}\n`);
    expect(ran.stderr).toContain('shown this once');
    expect(ran.stderr).toMatch(
      /created k_[0-9a-f]{16} "e2e search": scopes search, collections default,photos/,
    );
    id = `k_${secret.slice(7, 23)}`;
    expect(ran.stderr).toContain(id);
  });

  it('the key reads with its scope and collections, and is refused the rest', async () => {
    expect((await call('/v1/models', secret)).status).toBe(200);
    expect((await call('/v1/models/koclip-tiny', secret)).status).toBe(200);
    const other = await call('/v1/search?q=%EC%9B%90&collection=others', secret);
    expect([other.status, other.code]).toEqual([403, 'collection_forbidden']);
    const upload = await call('/v1/images/x', secret, { method: 'PUT', body: 'x' });
    expect([upload.status, upload.code]).toEqual([403, 'insufficient_scope']);
    const keysApi = await call('/v1/keys', secret);
    expect([keysApi.status, keysApi.code]).toEqual([403, 'insufficient_scope']);
    const wrong = await call('/v1/models', `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`);
    expect([wrong.status, wrong.code]).toEqual([401, 'unauthorized']);
  });

  it('lists the keys as a table, with today’s usage and never a secret', async () => {
    const admin = await keys([
      'create',
      '--name',
      'ops',
      '--scopes',
      'admin',
      '--expires-at',
      new Date(Date.now() + 86_400_000).toISOString(),
    ]);
    expect(admin.code, admin.stderr).toBe(0);
    const ran = await keys(['list']);
    expect(ran.code, ran.stderr).toBe(0);
    const lines = ran.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+SCOPES\s+COLLECTIONS\s+EXPIRES\s+REVOKED\s+USAGE TODAY$/);
    expect(lines).toHaveLength(3);
    const row = lines.find((l) => l.startsWith(id));
    // Two requests passed the gate (the refusals were not counted): exactly, as the key has a quota.
    expect(row).toMatch(
      /^k_[0-9a-f]{16}\s+e2e search\s+search\s+default,photos\s+never\s+-\s+2\/100 req, 0 enc$/,
    );
    expect(lines.find((l) => l.includes(' ops '))).toMatch(
      /\badmin\s+\(all\)\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}Z\s+-/,
    );
    expect(ran.stdout).not.toContain('koclip_');
  });

  it('revokes the key: it is refused within KEY_CACHE_S, and list shows when', async () => {
    expect((await call('/v1/models', secret)).status).toBe(200);
    const revoked = await spawnCli(['revoke', id]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(new RegExp(`^revoked ${id} "e2e search" at \\d{4}-`));
    const since = Date.now();
    let last = await call('/v1/models', secret);
    while (last.status === 200 && Date.now() - since < (KEY_CACHE_S + 2) * 1000) {
      await new Promise((r) => setTimeout(r, 200));
      last = await call('/v1/models', secret);
    }
    expect([last.status, last.code]).toEqual([401, 'key_revoked']);
    expect(Date.now() - since).toBeLessThan(KEY_CACHE_S * 1000 + 1000);
    const listed = await keys(['list']);
    expect(listed.stdout.split('\n').find((l) => l.startsWith(id))).toMatch(
      /\s\d{4}-\d{2}-\d{2} \d{2}:\d{2}Z\s+\d+\/100 req/,
    );
    // Revoking an unknown key is a refusal of the service.
    const unknown = await keys(['revoke', 'k_0000000000000000']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('404 key_not_found');
  });

  it('exits 1 when the service refuses the token, 2 on bad options (nothing sent)', async () => {
    const refused = await keys(['list'], { ADMIN_TOKEN: 'not-the-token' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('401 unauthorized');
    expect(refused.stderr).toContain('--token');
    for (const args of [
      [],
      ['rotate'],
      ['create', '--scopes', 'search'],
      ['create', '--name', 'x', '--scopes', 'read'],
      ['create', '--name', 'x', '--scopes', 'search,ingest', '--origins', 'https://shop.example'],
      ['create', '--name', 'x', '--scopes', 'search', '--expires-at', '2001-01-01'],
      ['create', '--name', 'x', '--scopes', 'search', '--requests-per-day', '0'],
      ['list', '--name', 'x'],
      ['revoke'],
      ['revoke', 'not-an-id'],
      ['list', '--url', 'ftp://x'],
    ]) {
      const ran = await keys(args, { KOCLIP_URL: 'http://127.0.0.1:9' });
      expect(ran.code, args.join(' ')).toBe(2);
      expect(ran.stderr).toContain('usage: npm run keys');
    }
    // No answer at all: 1.
    const down = await keys(['list', '--retries', '0'], { KOCLIP_URL: 'http://127.0.0.1:9' });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('no answer from http://127.0.0.1:9');
  });
});
