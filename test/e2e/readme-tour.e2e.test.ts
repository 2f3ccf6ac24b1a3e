/**
 * The README's 60-second tour, run verbatim: the shell blocks between `<!-- tour:start -->` and
 * `<!-- tour:end -->` run in bash against a fresh stack (the real encoder and `wrangler dev`),
 * with the tour's own first block (the local defaults of KOCLIP, ADMIN_TOKEN, WEBHOOK_SECRET)
 * replaced by this stack's values. Every curl there uses `-f`, so an HTTP error fails the run.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ROOT,
  STACK_ENCODER,
  STACK_SECRETS,
  STACK_VARS,
  type Stack,
  startStack,
} from '../../scripts/stack/index';
import { adminHeaders, status } from './support/indexing-stack';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const tour = readme.slice(readme.indexOf('<!-- tour:start -->'), readme.indexOf('<!-- tour:end -->'));
const blocks = [...tour.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);

const demo = JSON.parse(readFileSync(join(ROOT, 'models/koclip-tiny/demo/index.json'), 'utf8')) as {
  items: { id: string; file: string; metadata: Record<string, unknown> }[];
};
/** A part of the demo set is enough for the tour (it names demo-0001). */
const SEEDED = demo.items.slice(0, 24);

let stack: Stack;
let worker: Stack['worker'];

beforeAll(async () => {
  stack = await startStack({ encoder: STACK_ENCODER, worker: { vars: STACK_VARS } });
  worker = stack.worker;
  for (const item of SEEDED) {
    const form = new FormData();
    form.set(
      'image',
      new Blob([readFileSync(join(ROOT, 'models/koclip-tiny', item.file))], { type: 'image/png' }),
    );
    form.set('metadata', JSON.stringify(item.metadata));
    const res = await fetch(`${worker.url}/v1/images/${item.id}`, {
      method: 'PUT',
      headers: adminHeaders,
      body: form,
    });
    expect(res.status, await res.clone().text()).toBe(202);
  }
  const deadline = Date.now() + 120_000;
  for (const item of SEEDED) {
    while ((await status(worker.url, 'default', item.id)).body?.state !== 'indexed') {
      if (Date.now() > deadline)
        throw new Error(`${item.id} was not indexed in time:\n${worker.logs().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}, 300_000);

afterAll(async () => {
  await stack?.stop();
});

describe("the README's tour", () => {
  it('has its blocks: the local defaults first, then the commands', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    expect(blocks[0]).toMatch(/^export KOCLIP=http:\/\/127\.0\.0\.1:8787 /);
  });

  it('runs verbatim against the stack and every step answers', async () => {
    const script = ['set -euo pipefail', ...blocks.slice(1).map((b) => `${b}\necho "@@step"`)].join('\n');
    const run = spawnSync('bash', ['-c', script], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        KOCLIP: worker.url,
        ADMIN_TOKEN: STACK_SECRETS.ADMIN_TOKEN,
        WEBHOOK_SECRET: STACK_SECRETS.WEBHOOK_SECRET,
      },
    });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    const out = run.stdout;
    expect(out.split('@@step').length - 1).toBe(blocks.length - 1);
    expect(out).toContain('"object":"search_results"');
    expect(out).toMatch(/"colour":"red"/);
    expect(out).toContain('"kind":"composite"');
    expect(out).toContain('"object":"caption_scores"');
    expect(out).toContain('"object":"patch_scores"');
    expect(out).toMatch(/"id":"my-image"/);
    expect(out).toMatch(/"accepted":1/);
    expect(out).toMatch(/\d+ dimensions/);
    // The image the tour added by webhook becomes indexed (the encoder fetched its URL).
    const deadline = Date.now() + 60_000;
    let state: string | undefined;
    while (Date.now() < deadline) {
      state = (await status(worker.url, 'default', 'by-webhook')).body?.state;
      if (state === 'indexed' || state === 'failed') break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(state).toBe('indexed');
  }, 240_000);
});
