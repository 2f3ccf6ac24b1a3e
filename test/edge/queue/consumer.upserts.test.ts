/**
 * The queue consumer on upsert messages, driven with batches made by `createMessageBatch`, on the
 * real local R2, queue and index writers, with the encoder stand-in at the fetch boundary.
 */
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StandIn } from '../support/encoder-stand-in';
import { accepted, consume, ids, png, record, stored, uniq } from '../support/queue-fixtures';
import { demoUrl, installDemoEncoder } from '../support/search-fixtures';

let standIn: StandIn;
beforeEach(async () => {
  standIn = await installDemoEncoder();
});
afterEach(() => standIn.restore());

describe('handleIndexBatch: upserts', () => {
  it('embeds bytes from R2 and URLs in one encoder call per kind, and applies them', async () => {
    const c = uniq('batch');
    const messages = [
      await accepted(c, 'b1', await stored(`t/${c}/1`, png('demo-0001'))),
      await accepted(c, 'b2', await stored(`t/${c}/2`, png('demo-0005'))),
      await accepted(c, 'u1', { image_url: demoUrl('demo-0007') }, { metadata: { k: 'v' } }),
      await accepted(c, 'u2', { image_url: demoUrl('demo-0008') }),
    ];
    const before = standIn.items.length;
    expect(await consume(messages)).toEqual({ acked: ids(4), retried: [] });
    expect(standIn.items.slice(before).sort()).toEqual([2, 2]);
    for (const id of ['b1', 'b2', 'u1', 'u2']) expect((await record(c, id))?.state).toBe('indexed');
    expect(await record(c, 'u1')).toMatchObject({ metadata: { k: 'v' }, attempts: 1 });
  });

  it('acks a message superseded by a newer event without embedding it', async () => {
    const c = uniq('stale');
    const older = await accepted(c, 's1', { image_url: demoUrl('demo-0001') });
    const newer = await accepted(c, 's1', { image_url: demoUrl('demo-0002') }, { metadata: { v: 2 } });
    const before = standIn.items.length;
    expect(await consume([older])).toEqual({ acked: ['m0'], retried: [] });
    expect(standIn.items.length).toBe(before);
    expect(await consume([newer])).toEqual({ acked: ['m0'], retried: [] });
    expect(await record(c, 's1')).toMatchObject({ state: 'indexed', metadata: { v: 2 } });
  });

  it('does not embed the same bytes again: the stored vector is kept, the metadata changes', async () => {
    const c = uniq('reuse');
    const source = await stored(`t/${c}/r`, png('demo-0013'));
    await consume([await accepted(c, 'r1', source)]);
    const first = await record(c, 'r1');
    const before = standIn.items.length;
    expect(await consume([await accepted(c, 'r1', source, { metadata: { v: 2 } })])).toMatchObject({
      acked: ['m0'],
    });
    expect(standIn.items.length).toBe(before);
    expect(await record(c, 'r1')).toMatchObject({
      state: 'indexed',
      metadata: { v: 2 },
      content_sha256: first?.content_sha256,
    });
  });

  it('reuses the vector of a URL whose bytes did not change (the encoder says their sha256)', async () => {
    const c = uniq('url-reuse');
    await consume([await accepted(c, 'x', { image_url: demoUrl('demo-0011') })]);
    const first = await record(c, 'x');
    await consume([await accepted(c, 'x', { image_url: demoUrl('demo-0011') }, { metadata: { v: 2 } })]);
    expect(await record(c, 'x')).toMatchObject({
      state: 'indexed',
      metadata: { v: 2 },
      content_sha256: first?.content_sha256,
    });
  });

  it('ends permanent failures failed with their reason and indexes the rest of the batch', async () => {
    const c = uniq('perm');
    standIn.urlErrors.set('https://images.test/refused.png', {
      status: 403,
      code: 'url_refused',
      message: 'private address',
    });
    const messages = [
      await accepted(c, 'ok', await stored(`t/${c}/ok`, png('demo-0001'))),
      await accepted(c, 'junk', await stored(`t/${c}/junk`, new Uint8Array([1, 2, 3, 4]))),
      await accepted(c, 'gone', { r2_key: `t/${c}/never-written` }),
      await accepted(c, 'refused', { image_url: 'https://images.test/refused.png' }),
      await accepted(c, 'fine', { image_url: demoUrl('demo-0003') }),
    ];
    expect(await consume(messages)).toEqual({ acked: ids(5), retried: [] });
    expect((await record(c, 'ok'))?.state).toBe('indexed');
    expect((await record(c, 'fine'))?.state).toBe('indexed');
    expect(await record(c, 'junk')).toMatchObject({ state: 'failed', error: { code: 'not_an_image' } });
    expect(await record(c, 'gone')).toMatchObject({ state: 'failed', error: { code: 'source_not_found' } });
    expect(await record(c, 'refused')).toMatchObject({
      state: 'failed',
      error: { code: 'url_refused', message: 'private address' },
    });
  });

  it('retries encoder faults with exponential backoff and applies nothing', async () => {
    const c = uniq('fault');
    const messages = [
      await accepted(c, 'f1', await stored(`t/${c}/1`, png('demo-0001'))),
      await accepted(c, 'f2', { image_url: demoUrl('demo-0002') }),
    ];
    for (const [mode, attempts, delay] of [
      ['status500', 1, 2],
      ['status503', 3, 8],
      ['bad-shape', 5, 32],
      ['wrong-version', 9, 300],
    ] as const) {
      standIn.script = [mode, mode];
      const { acked, retried } = await consume(messages, { attempts });
      expect(acked, mode).toEqual([]);
      expect(retried.map((r) => r.delaySeconds)).toEqual([delay, delay]);
      expect((await record(c, 'f1'))?.state).toBe('pending');
      expect((await record(c, 'f2'))?.state).toBe('pending');
    }
    expect((await record(c, 'f1'))?.attempts).toBe(4);
    expect(await consume(messages, { attempts: 6 })).toEqual({ acked: ids(2), retried: [] });
    expect((await record(c, 'f1'))?.state).toBe('indexed');
  });

  it('retries a timed-out or unreachable encoder', async () => {
    const c = uniq('timeout');
    const messages = [await accepted(c, 't1', { image_url: demoUrl('demo-0004') })];
    standIn.script = ['hang'];
    const quick = { ...env, ENCODER_TIMEOUT_MS: '200' };
    expect((await consume(messages, { env: quick })).retried).toEqual([{ msgId: 'm0', delaySeconds: 2 }]);
    const nowhere = { ...env, ENCODER_URL: 'http://unreachable.test' };
    expect((await consume(messages, { env: nowhere })).retried).toEqual([{ msgId: 'm0', delaySeconds: 2 }]);
    expect((await record(c, 't1'))?.state).toBe('pending');
  });

  it('retries a URL that could not be fetched a few times, then ends it failed', async () => {
    const c = uniq('flaky');
    standIn.urlErrors.set('https://images.test/slow.png', {
      status: 504,
      code: 'fetch_timeout',
      message: 'the image URL did not answer within 10000 ms',
    });
    const messages = [await accepted(c, 'slow', { image_url: 'https://images.test/slow.png' })];
    expect((await consume(messages, { attempts: 1 })).retried).toHaveLength(1);
    expect((await consume(messages, { attempts: 3 })).acked).toEqual(['m0']);
    expect(await record(c, 'slow')).toMatchObject({ state: 'failed', error: { code: 'fetch_timeout' } });
  });

  it('embeds a message delivered twice in one batch once and acks both deliveries', async () => {
    const c = uniq('dup');
    const message = await accepted(c, 'd', { image_url: demoUrl('demo-0009') });
    const before = standIn.items.length;
    expect(await consume([message, message])).toEqual({ acked: ids(2), retried: [] });
    expect(standIn.items.slice(before)).toEqual([1]);
  });

  it('acks poison messages (neither an upsert nor an R2 event) without touching anything', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const poison = [
      'text',
      42,
      null,
      { v: 2, type: 'upsert' },
      { v: 1, type: 'upsert', id: 'x' },
      { action: 'PutObject' },
    ];
    expect(await consume(poison)).toEqual({ acked: ids(poison.length), retried: [] });
  });
});
