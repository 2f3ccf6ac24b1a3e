/**
 * The migration CLI (scripts/migrate) against a stand-in of the collections API
 * (support/fake-index-service: a migration moves one step per GET; to `broken-model` it fails,
 * to `stuck-model` it never ends copying): start and follow to the switch, the bar, failure,
 * rollback, follow by id or the collection's current one, timeout, Ctrl-C, bad usage (exit 2,
 * nothing sent), a refused token and answers out of contract. Most cases run the CLI in-process
 * (runMigrateCli); the entry itself runs as a process through scripts/ts for the exit codes and
 * Ctrl-C. The real routes are tested on the Worker itself.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProgress } from '../../scripts/index/progress';
import { adminApi } from '../../scripts/migrate/admin-api';
import { runMigrateCli } from '../../scripts/migrate/cli';
import { describeEnd, followMigration } from '../../scripts/migrate/follow';
import { TS_RUNNER } from '../../scripts/stack/index';
import type { Migration } from '../../src/core/contract/collection-schemas';
import { type FakeService, startFakeService } from './support/fake-index-service';

const ROOT = join(import.meta.dirname, '..', '..');
const TOKEN = 'fake-admin';

let fake: FakeService;

beforeEach(async () => {
  fake = await startFakeService({ token: TOKEN });
});
afterEach(async () => {
  await fake.close();
});

type Ran = { code: number | null; stdout: string; stderr: string };

/** `npm run migrate` as a process (the entry, its exit code and signals). */
function spawnCli(args: string[]): { child: ChildProcess; done: Promise<Ran> } {
  const child = spawn(TS_RUNNER, ['scripts/migrate/main.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const done = new Promise<Ran>((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

/** A stream that keeps what is written (a terminal when `tty`). */
function sink(tty = false) {
  const stream = {
    text: '',
    isTTY: tty,
    columns: 200,
    write(chunk: string | Uint8Array) {
      stream.text += chunk.toString();
      return true;
    },
  };
  return stream;
}

/** The CLI in-process with exactly `args`. */
async function cli(args: string[]): Promise<Ran> {
  const stdout = sink();
  const stderr = sink();
  const code = await runMigrateCli(args, {
    stdout: stdout as unknown as NodeJS.WritableStream,
    stderr: stderr as unknown as NodeJS.WriteStream,
    env: {},
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** The CLI in-process against the fake, polling fast. */
const migrate = (...args: string[]) =>
  cli([...args, '--url', fake.url, '--token', TOKEN, '--poll-interval', '0.01']);

const migrationGets = () => fake.calls.filter((c) => /^GET .*\/migrations\//.test(c)).length;

const SAMPLE: Migration = {
  id: 'mig-1',
  collection: 'photos',
  from: { model: 'koclip-tiny', version: '1' },
  to: { model: 'koclip-base', version: '1' },
  state: 'copying',
  total: null,
  copied: 3,
  indexed: 1,
  pending: 2,
  failed: 0,
  failures: [],
  images_per_s: 0,
  eta_s: null,
  started_at: '2026-01-01T00:00:00.000Z',
  switched_at: null,
  rollback_until: null,
  finished_at: null,
  error: null,
};

describe('migration CLI against a stand-in service', () => {
  it('starts a migration and follows it to the switch (as a process): phases, counts, rollback window', async () => {
    const args = ['photos', '--to', 'koclip-base', '--url', fake.url, '--token', TOKEN];
    const { code, stdout, stderr } = await spawnCli([...args, '--poll-interval', '0.02']).done;
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('migration mig-1 of photos: koclip-tiny@1 -> koclip-base@1');
    // Lines on a pipe; the total is unknown at first: the copied count, then indexed of the total.
    expect(stderr).toContain('copying: 0/?');
    expect(stderr).toContain('copying: 5/? 4.0 img/s ETA ? failed 0');
    expect(stderr).toContain('migrating: 9/10 (90%) 4.0 img/s ETA 0s failed 1');
    const m = fake.migrations.get('mig-1');
    expect(m?.state).toBe('switched');
    expect(stdout).toContain(
      `switched: photos reads koclip-base@1 (was koclip-tiny@1) since ${m?.switched_at}`,
    );
    expect(stdout).toContain('10 image(s) to move: copied 10, indexed 9, pending 0, failed 1');
    expect(stdout).toContain(
      `rollback possible until ${m?.rollback_until}: npm run migrate -- photos --rollback mig-1`,
    );
    expect(stdout).toContain('  bad-0001: not_an_image: the fake cannot decode it');
    expect(fake.calls[0]).toBe('POST /v1/collections/photos/migrations');
    expect(migrationGets()).toBe(3);
    expect(fake.collections.get('photos')).toMatchObject({ model: 'koclip-base', pinned: true });
  });

  it("draws the bar from the service's counts, rate and ETA, and retries a 503 while following", async () => {
    const api = adminApi({ url: fake.url, token: TOKEN, baseDelayMs: 5, maxDelayMs: 10 });
    const migration = await api.startMigration('photos', 'koclip-base');
    fake.failNext(1, 503, /migrations\/mig-1$/);
    const tty = sink(true);
    const progress = createProgress('bar', tty as unknown as NodeJS.WriteStream);
    const end = await followMigration({
      api,
      collection: 'photos',
      migration,
      pollIntervalMs: 10,
      timeoutS: 0,
      progress,
    });
    expect(end.end).toBe('settled');
    expect(end.migration.state).toBe('switched');
    expect(tty.text).toContain('copying   [');
    expect(tty.text).toContain('] 5/? | 4.0 img/s | ETA ? | failed 0');
    expect(tty.text).toMatch(/migrating \[[█░]{30}\] 9\/10 \| 4\.0 img\/s \| ETA 0s \| failed 1/);
    expect(fake.calls.filter((c) => c === 'GET /v1/collections/photos/migrations/mig-1')).toHaveLength(4);
  });

  it('exits 1 with the reason when the migration fails; the collection stays on its model', async () => {
    const { code, stdout } = await migrate('photos', '--to', 'broken-model', '--progress', 'none');
    expect(code).toBe(1);
    expect(stdout).toContain(
      'failed: migration mig-1 stopped: the encoder has no package broken-model@1; photos stays on koclip-tiny@1',
    );
    expect(fake.collections.get('photos')?.model).toBe('koclip-tiny');
  });

  it('rolls back within the grace period, and is refused once it is closed', async () => {
    expect((await migrate('photos', '--to', 'koclip-base')).code).toBe(0);
    expect(fake.collections.get('photos')?.model).toBe('koclip-base');
    const back = await migrate('photos', '--rollback', 'mig-1');
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toContain('rolled back: photos reads koclip-tiny@1 again since');
    expect(fake.collections.get('photos')?.model).toBe('koclip-tiny');
    const again = await migrate('photos', '--rollback', 'mig-1');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('error: 409 rollback_closed: migration mig-1 is rolled_back');
  });

  it('follows a migration by id, or the collection’s current one, and says when there is none', async () => {
    await adminApi({ url: fake.url, token: TOKEN }).startMigration('photos', 'koclip-base');
    const byId = await migrate('photos', '--follow', 'mig-1', '--progress', 'lines');
    expect(byId.code, byId.stderr).toBe(0);
    expect(byId.stdout).toContain('switched: photos reads koclip-base@1');
    expect(fake.calls.filter((c) => c.startsWith('POST'))).toHaveLength(1);

    // In its rollback period the switched migration is still the collection's current one.
    const current = await migrate('photos');
    expect(current).toMatchObject({ code: 0, stderr: '' });
    expect(current.stdout).toContain('rollback possible until');
    expect(fake.calls).toContain('GET /v1/collections/photos');
    const none = await migrate('empty');
    expect(none).toMatchObject({ code: 0, stderr: '' });
    expect(none.stdout).toBe(
      'empty reads koclip-tiny (the default model); no migration running or in its rollback period\n',
    );
    const unknown = await migrate('photos', '--follow', 'mig-9');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('error: 404 migration_not_found: no migration mig-9');
  });

  it('reports a retired migration after the grace period', async () => {
    await fake.close();
    fake = await startFakeService({ token: TOKEN, rollbackGraceS: 0 });
    expect((await migrate('photos', '--to', 'koclip-base')).code).toBe(0);
    const { code, stdout } = await migrate('photos', '--follow', 'mig-1');
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^complete: photos reads koclip-base@1 since .*; the old index \(koclip-tiny@1\) was retired at /,
    );
  });

  it('names the running migration when another is started, and refuses unknown or same models', async () => {
    await adminApi({ url: fake.url, token: TOKEN }).startMigration('photos', 'stuck-model');
    const { code, stderr } = await migrate('photos', '--to', 'koclip-base');
    expect(code).toBe(1);
    expect(stderr).toContain('error: 409 migration_running: migration mig-1 is not over');
    expect(stderr).toContain(
      'mig-1 (koclip-tiny@1 -> stuck-model@1) is copying; follow it: npm run migrate -- photos --follow mig-1',
    );
    expect((await migrate('other', '--to', 'no-such-model')).stderr).toContain(
      'error: 404 unknown_model: no model no-such-model',
    );
    expect((await migrate('other', '--to', 'koclip-tiny')).stderr).toContain('error: 409 same_model');
  });

  it('times out naming the state (exit 1); the migration goes on', async () => {
    const late = await migrate('photos', '--to', 'stuck-model', '--timeout', '0.1', '--progress', 'none');
    expect(late.code).toBe(1);
    expect(late.stdout).toContain(
      'timed out after 0.1 s: migration mig-1 is still copying (10 image(s) to move: copied 10, indexed 6',
    );
    expect(late.stdout).toContain('it goes on; follow it again: npm run migrate -- photos --follow mig-1');
    expect(fake.migrations.get('mig-1')?.state).toBe('copying');
  });

  it('stops following on Ctrl-C (exit 130) and says how to follow again', async () => {
    await adminApi({ url: fake.url, token: TOKEN }).startMigration('photos', 'stuck-model');
    const args = [
      'photos',
      '--follow',
      'mig-1',
      '--url',
      fake.url,
      '--token',
      TOKEN,
      '--poll-interval',
      '0.02',
    ];
    const run = spawnCli(args);
    // The second GET comes from the follow loop (the first one reads the migration).
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (migrationGets() >= 2) {
          clearInterval(timer);
          resolve();
        }
      }, 10);
    });
    run.child.kill('SIGINT');
    const stopped = await run.done;
    expect(stopped.code).toBe(130);
    expect(stopped.stdout).toContain('stopped following: migration mig-1 goes on in the service (copying;');
    expect(stopped.stdout).toContain('follow it again: npm run migrate -- photos --follow mig-1');
    expect(fake.migrations.get('mig-1')?.state).toBe('copying');
  });

  it('exits 2 on bad usage and sends nothing', async () => {
    const entry = spawnCli(['photos', '--to', 'koclip-base', '--follow', 'mig-1', '--url', fake.url]).done;
    const cases: [string[], string][] = [
      [[], 'give exactly one collection'],
      [['Photos!'], 'Photos! is not a collection name'],
      [['photos', '--to', 'Not A Model'], 'Not A Model is not a model id'],
      [['photos', '--poll-interval', '0'], '--poll-interval must be a number of seconds > 0'],
      [['photos', '--timeout=-1'], '--timeout must be a number of seconds >= 0'],
      [['photos', '--progress', 'fancy'], '--progress is auto, bar, lines or none'],
      [['photos', '--retries', 'many'], '--retries must be an integer >= 0'],
      [['photos', '--bogus'], "Unknown option '--bogus'"],
    ];
    for (const [args, message] of cases) {
      const { code, stderr } = await cli([...args, '--url', fake.url, '--token', TOKEN]);
      expect(code, stderr).toBe(2);
      expect(stderr).toContain(`error: ${message}`);
      expect(stderr).toContain('usage: npm run migrate --');
    }
    expect((await cli(['photos', '--url', 'ftp://x'])).stderr).toContain('--url must be an http(s) URL');
    const { code, stderr } = await entry;
    expect(code).toBe(2);
    expect(stderr).toContain('error: give at most one of --to, --follow and --rollback');
    expect(fake.calls).toEqual([]);
  });

  it('stops on a refused token or an unreachable service with a clear message', async () => {
    const { code, stderr } = await cli([
      'photos',
      '--to',
      'koclip-base',
      '--url',
      fake.url,
      '--token',
      'wrong',
    ]);
    expect(code).toBe(1);
    expect(stderr).toContain(
      "error: the admin token was refused (401 unauthorized: bad token); give the Worker's ADMIN_TOKEN with --token or ADMIN_TOKEN",
    );
    expect(fake.calls).toEqual(['POST /v1/collections/photos/migrations']);
    expect(fake.migrations.size).toBe(0);
    const closed = await cli(['photos', '--url', 'http://127.0.0.1:1', '--token', TOKEN, '--retries', '0']);
    expect(closed.code).toBe(1);
    expect(closed.stderr).toContain('error: no answer from http://127.0.0.1:1 while reading the collection:');
  });

  it('names what is out of contract in an answer', async () => {
    fake.replyNext(1, 200, { ...SAMPLE, state: 'done' }, /migrations\/mig-1$/);
    const { code, stderr } = await migrate('photos', '--to', 'koclip-base');
    expect(code).toBe(1);
    expect(stderr).toContain(
      "error: the service's answer is out of contract: GET /v1/collections/photos/migrations/mig-1 answered 200 out of contract: state: Invalid option",
    );
    fake.replyNext(1, 201, SAMPLE, /POST/);
    expect((await migrate('other', '--to', 'koclip-base')).stderr).toContain(
      'POST /v1/collections/other/migrations answered 201 (expected 202 or an error envelope)',
    );
    fake.replyNext(1, 404, 'no such route', /collections\/other$/);
    expect((await migrate('other')).stderr).toContain(
      'GET /v1/collections/other answered 404 (expected 200 or an error envelope): "no such route"',
    );
  });

  it('closes with the right words when following stops', () => {
    expect(describeEnd({ end: 'interrupted', migration: SAMPLE }, 'photos', 0)).toEqual({
      code: 130,
      text:
        'stopped following: migration mig-1 goes on in the service (copying; ? image(s) to move: copied 3, indexed 1, pending 2, failed 0)\n' +
        'follow it again: npm run migrate -- photos --follow mig-1',
    });
  });
});
