/**
 * The bulk CLI (scripts/index) against a stand-in of the ingest API (support/fake-index-service):
 * each input kind, batching, signatures, retries, per-item failures, --wait, the summary, bad
 * input (exit 2, nothing sent) and resume after Ctrl-C. The real service is exercised by
 * indexing.load.e2e.test.ts and indexing.faults.e2e.test.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadInput, urlImageId } from '../../scripts/index/inputs';
import { formatSummary, runIndex } from '../../scripts/index/run';
import { IndexState } from '../../scripts/index/state';
import { TS_RUNNER } from '../../scripts/stack/index';
import { type FakeService, startFakeService } from './support/fake-index-service';

const ROOT = join(import.meta.dirname, '..', '..');
const DEMO = join(ROOT, 'models/koclip-tiny/demo/images');
const demo = (n: number) => join(DEMO, `demo-${String(n).padStart(4, '0')}.png`);
const TOKEN = 'fake-admin';
const SECRET = 'fake-secret';

let fake: FakeService;
let dir: string;
const dirs: string[] = [];

beforeEach(async () => {
  fake = await startFakeService({ token: TOKEN, secret: SECRET, indexDelayMs: 30 });
  dir = mkdtempSync(join(tmpdir(), 'index-cli-'));
  dirs.push(dir);
});
afterEach(async () => {
  await fake.close();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const base = () => ({ url: fake.url, token: TOKEN, secrets: [SECRET], baseDelayMs: 10, maxDelayMs: 50 });

function runCli(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(TS_RUNNER, ['scripts/index/main.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
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
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done };
}

describe('bulk CLI against a stand-in service', () => {
  it('uploads a folder (ids from paths), waits until indexed, and reports failures with reasons', async () => {
    mkdirSync(join(dir, 'imgs/sub'), { recursive: true });
    copyFileSync(demo(1), join(dir, 'imgs/a.png'));
    copyFileSync(demo(2), join(dir, 'imgs/sub/b c.png'));
    copyFileSync(demo(3), join(dir, 'imgs/bad-one.png'));
    copyFileSync(demo(4), join(dir, 'imgs/reject-me.png'));
    writeFileSync(join(dir, 'imgs/notes.txt'), 'not an image');
    const items = loadInput(join(dir, 'imgs'), { collection: 'photos' });
    expect(items.map((i) => i.id).sort()).toEqual(['a', 'bad-one', 'reject-me', 'sub/b_c']);
    const summary = await runIndex(items, { ...base(), wait: true, pollIntervalMs: 20 });
    expect(summary).toMatchObject({ total: 4, sent: 3, indexed: 2, pending: 0 });
    expect(summary.failed.map((f) => [f.id, f.code, f.phase]).sort()).toEqual([
      ['bad-one', 'not_an_image', 'index'],
      ['reject-me', 'image_too_large', 'send'],
    ]);
    expect(fake.records.get('photos/sub/b_c')?.content_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(fake.calls.filter((c) => c.startsWith('PUT'))).toContain('PUT /v1/images/sub%2Fb_c');
    const text = formatSummary(summary);
    expect(text).toContain('indexed 2, failed 2');
    expect(text).toContain('not_an_image (1):');
    expect(text).toContain('photos/reject-me: refused by the fake');
  });

  it('names the images still pending when --wait times out', async () => {
    mkdirSync(join(dir, 'imgs'), { recursive: true });
    copyFileSync(demo(1), join(dir, 'imgs/a.png'));
    copyFileSync(demo(2), join(dir, 'imgs/stuck-1.png'));
    copyFileSync(demo(3), join(dir, 'imgs/stuck-2.png'));
    const items = loadInput(join(dir, 'imgs'), { collection: 'photos' });
    const summary = await runIndex(items, { ...base(), wait: true, waitTimeoutS: 1, pollIntervalMs: 20 });
    expect(summary).toMatchObject({ sent: 3, indexed: 1, pending: 2 });
    expect(summary.pendingIds.sort()).toEqual(['photos/stuck-1', 'photos/stuck-2']);
    const text = formatSummary(summary);
    expect(text).toContain('2 image(s) not yet indexed or failed when the wait ended');
    expect(text).toContain('  pending: photos/stuck-1');
    expect(text).toContain('  pending: photos/stuck-2');
  });

  it('sends a URL list as signed webhooks of at most 100 events, ids given or the URL hash', async () => {
    const lines = ['# comment', ''];
    for (let i = 0; i < 230; i++) lines.push(`https://img.example/${i}.png`);
    lines.push('my-id\thttps://img.example/named.png');
    writeFileSync(join(dir, 'urls.txt'), lines.join('\n'));
    const items = loadInput(join(dir, 'urls.txt'));
    expect(items).toHaveLength(231);
    const summary = await runIndex(items, { ...base(), concurrency: 4 });
    expect(summary).toMatchObject({ sent: 231, failed: [], pending: 231 });
    expect(fake.calls.filter((c) => c === 'POST /v1/webhooks/index')).toHaveLength(3);
    expect(fake.records.get(`default/${urlImageId('https://img.example/7.png')}`)).toBeDefined();
    expect(fake.records.get('default/my-id')).toBeDefined();
  });

  it('mixes webhook events and uploads from items.jsonl, keeping the order of events per image', async () => {
    copyFileSync(demo(5), join(dir, 'five.png'));
    const lines = [
      { id: 'u1', image_url: 'https://img.example/u1.png', metadata: { v: 1 } },
      { id: 'r1', r2_key: 'incoming/default/r1', collection: 'shop' },
      { id: 'f1', file: 'five.png', metadata: { colour: 'red' }, caption: '빨간 원' },
      ...Array.from({ length: 150 }, (_, i) => ({ id: `x${i}`, image_url: `https://img.example/x${i}.png` })),
      { id: 'u1', image_url: 'https://img.example/u1.png', metadata: { v: 2 } },
      { op: 'delete', id: 'x3' },
    ];
    writeFileSync(join(dir, 'items.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n'));
    const items = loadInput(join(dir, 'items.jsonl'));
    const summary = await runIndex(items, {
      ...base(),
      concurrency: 8,
      batchSize: 10,
      wait: true,
      pollIntervalMs: 20,
    });
    expect(summary.failed).toEqual([]);
    expect(summary).toMatchObject({ sent: 155, deletes: 1, indexed: 152, pending: 0 });
    expect(fake.records.get('default/u1')?.metadata).toEqual({ v: 2 });
    expect(fake.records.get('shop/r1')).toBeDefined();
    expect(fake.records.has('default/x3')).toBe(false);
    expect(fake.records.get('default/f1')).toMatchObject({ caption: '빨간 원', metadata: { colour: 'red' } });
    const u1 = fake.events.filter((e) => e.id === 'u1');
    expect(u1).toHaveLength(2);
  });

  it('retries 429 and 5xx with backoff, re-signing each try; other 4xx fail their items only', async () => {
    writeFileSync(
      join(dir, 'urls.txt'),
      Array.from({ length: 5 }, (_, i) => `https://img.example/${i}.png`).join('\n'),
    );
    fake.failNext(2, 503, /webhooks/);
    fake.failNext(1, 429, /webhooks/, 0);
    const summary = await runIndex(loadInput(join(dir, 'urls.txt')), { ...base() });
    expect(summary).toMatchObject({ sent: 5, retries: 3, failed: [] });
    fake.failNext(1, 400, /webhooks/);
    const second = await runIndex(loadInput(join(dir, 'urls.txt')), { ...base() });
    expect(second.failed).toHaveLength(5);
    expect(second.failed[0]).toMatchObject({ code: 'injected', phase: 'send' });
  });

  it('gives up after --retries and names the reason', async () => {
    writeFileSync(join(dir, 'urls.txt'), 'https://img.example/1.png\n');
    fake.failNext(10, 502, /webhooks/);
    const summary = await runIndex(loadInput(join(dir, 'urls.txt')), { ...base(), retries: 2 });
    expect(summary.failed).toEqual([expect.objectContaining({ code: 'injected', phase: 'send' })]);
    expect(fake.calls.filter((c) => c.includes('webhooks'))).toHaveLength(3);
  });

  it('skips uploads already indexed with the same bytes and metadata (--skip-indexed)', async () => {
    for (const n of [1, 2, 3]) copyFileSync(demo(n), join(dir, `${n}.png`));
    const lines = [1, 2, 3].map((n) => JSON.stringify({ id: `d${n}`, file: `${n}.png`, metadata: { n } }));
    writeFileSync(join(dir, 'items.jsonl'), lines.join('\n'));
    const items = loadInput(join(dir, 'items.jsonl'));
    expect(await runIndex(items, { ...base(), wait: true, pollIntervalMs: 20 })).toMatchObject({
      indexed: 3,
    });
    writeFileSync(
      join(dir, 'items.jsonl'),
      [...lines.slice(0, 2), JSON.stringify({ id: 'd3', file: '3.png', metadata: { n: 33 } })].join('\n'),
    );
    const again = await runIndex(loadInput(join(dir, 'items.jsonl')), {
      ...base(),
      skipIndexed: true,
      wait: true,
      pollIntervalMs: 20,
    });
    expect(again).toMatchObject({ skipped: 2, sent: 1, indexed: 3 });
    expect(fake.calls.filter((c) => c.startsWith('PUT'))).toHaveLength(4);
  });

  it('exits 2 with every problem of a bad input file and sends nothing', async () => {
    writeFileSync(
      join(dir, 'items.jsonl'),
      [
        '{"id":"ok","image_url":"https://img.example/a.png"}',
        '{"id":"two","image_url":"https://img.example/a.png","file":"x.png"}',
        'not json',
        '{"id":"has space","image_url":"https://img.example/a.png"}',
        '{"id":"m","image_url":"ftp://img.example/a.png"}',
        '{"id":"f","file":"missing.png"}',
        '{"id":"z","image_url":"https://img.example/a.png","extra":1}',
        '{"op":"move","id":"q"}',
      ].join('\n'),
    );
    const { done } = runCli([
      join(dir, 'items.jsonl'),
      '--url',
      fake.url,
      '--secret',
      SECRET,
      '--token',
      TOKEN,
    ]);
    const { code, stderr } = await done;
    expect(code).toBe(2);
    for (const line of [2, 3, 4, 5, 6, 7, 8]) expect(stderr).toContain(`items.jsonl:${line}:`);
    expect(stderr).not.toContain('items.jsonl:1:');
    expect(stderr).toContain('nothing was sent');
    expect(fake.calls).toEqual([]);

    const missing = await runCli([join(dir, 'nope.txt'), '--url', fake.url]).done;
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no such file or folder');
    writeFileSync(join(dir, 'empty.txt'), '# nothing\n');
    const empty = await runCli([join(dir, 'empty.txt'), '--url', fake.url, '--secret', SECRET]).done;
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('no images');
    expect(fake.calls).toEqual([]);
  });

  it('stops on a refused signature with a clear message', async () => {
    writeFileSync(join(dir, 'urls.txt'), 'https://img.example/1.png\n');
    const { code, stdout, stderr } = await runCli([
      join(dir, 'urls.txt'),
      '--url',
      fake.url,
      '--secret',
      'wrong-secret',
      '--progress',
      'lines',
    ]).done;
    expect(code).toBe(1);
    expect(stdout + stderr).toContain('the webhook signature was refused with 401 bad_signature');
  });

  it('resumes after Ctrl-C from the state file, sending each event exactly once', async () => {
    const total = 120;
    writeFileSync(
      join(dir, 'urls.txt'),
      Array.from({ length: total }, (_, i) => `id${i}\thttps://img.example/${i}.png`).join('\n'),
    );
    fake.setLatency(40);
    const args = [join(dir, 'urls.txt'), '--url', fake.url, '--secret', SECRET, '--batch', '1'];
    const first = runCli([...args, '--concurrency', '2', '--rate', '40', '--progress', 'lines']);
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (fake.events.length >= 20) {
          clearInterval(timer);
          resolve();
        }
      }, 20);
    });
    first.child.kill('SIGINT');
    const interrupted = await first.done;
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toContain('sending: 0/120');
    expect(interrupted.stdout).toContain('interrupted: progress saved');
    const statePath = join(dir, '.koclip-index-state.json');
    expect(existsSync(statePath)).toBe(true);
    const sentBefore = fake.events.length;
    expect(sentBefore).toBeLessThan(total);
    const saved = Object.keys(JSON.parse(readFileSync(statePath, 'utf8')).sent).length;
    expect(saved).toBe(sentBefore);

    fake.setLatency(0);
    const second = await runCli([...args, '--concurrency', '8']).done;
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain(`skipped ${sentBefore}`);
    const ids = fake.events.map((e) => e.id);
    expect(ids).toHaveLength(total);
    expect(new Set(ids).size).toBe(total);

    // A third run has nothing left to send.
    const third = await runCli(args).done;
    expect(third.stdout).toContain(`sent 0, skipped ${total}`);
    expect(fake.events).toHaveLength(total);
    expect(IndexState.open(statePath, fake.url, '').size).toBe(total);
  });
});
