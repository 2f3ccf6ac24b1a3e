/**
 * The queue consumer on R2 event notifications (the platform's message shape) and the
 * dead-letter queue's consumer, on the real local R2, queue and index writers.
 */
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StandIn } from '../support/encoder-stand-in';
import { accepted, consume, ids, png, r2Event, record, stored, uniq } from '../support/queue-fixtures';
import { demoUrl, installDemoEncoder } from '../support/search-fixtures';

let standIn: StandIn;
beforeEach(async () => {
  standIn = await installDemoEncoder();
});
afterEach(() => standIn.restore());

describe('handleIndexBatch: R2 event notifications', () => {
  it('indexes a put under the prefix: <prefix><collection>/<id>, the id percent-decoded', async () => {
    const key = 'incoming/r2-shop/%ED%95%9C%EA%B8%80-42.png';
    await stored(key, png('demo-0005'), { colour: 'pink', caption: '분홍색' });
    expect(await consume([r2Event('PutObject', key)])).toEqual({ acked: ['m0'], retried: [] });
    expect(await record('r2-shop', '한글-42.png')).toMatchObject({
      state: 'indexed',
      metadata: { colour: 'pink' },
      caption: '분홍색',
    });
  });

  it('takes <prefix><id> as the default collection, and every put-like action', async () => {
    for (const [action, id] of [
      ['CopyObject', uniq('copied')],
      ['CompleteMultipartUpload', uniq('multi')],
    ] as const) {
      await stored(`incoming/${id}`, png('demo-0001'));
      expect(await consume([r2Event(action, `incoming/${id}`)])).toMatchObject({ acked: ['m0'] });
      expect((await record('default', id))?.state).toBe('indexed');
    }
  });

  it('removes the image on DeleteObject and LifecycleDeletion', async () => {
    for (const action of ['DeleteObject', 'LifecycleDeletion']) {
      const id = uniq('r2-del');
      await stored(`incoming/r2-del/${id}`, png('demo-0001'));
      await consume([r2Event('PutObject', `incoming/r2-del/${id}`)]);
      expect((await record('r2-del', id))?.state).toBe('indexed');
      await env.IMAGES_BUCKET.delete(`incoming/r2-del/${id}`);
      expect(await consume([r2Event(action, `incoming/r2-del/${id}`)])).toEqual({
        acked: ['m0'],
        retried: [],
      });
      expect(await record('r2-del', id)).toBeNull();
    }
  });

  it('ignores keys outside the prefix, bad names, other actions and objects already gone', async () => {
    const events = [
      r2Event('PutObject', 'elsewhere/x.png'),
      r2Event('PutObject', 'incoming/Bad Collection/x.png'),
      r2Event('PutObject', 'incoming/default/%E0%A4%A'),
      r2Event('PutObject', 'incoming/'),
      r2Event('RestoreObject', 'incoming/y.png'),
      r2Event('PutObject', 'incoming/never-put.png'),
    ];
    expect(await consume(events)).toEqual({ acked: ids(events.length), retried: [] });
    expect(await record('default', 'never-put.png')).toBeNull();
    expect(await record('default', 'x.png')).toBeNull();
  });

  it('queues an R2 upsert again as an upsert message when the encoder faults (then it is indexed)', async () => {
    const id = uniq('r2-fault');
    await stored(`incoming/${id}`, png('demo-0013'));
    standIn.script = ['status500'];
    expect(await consume([r2Event('PutObject', `incoming/${id}`)])).toEqual({ acked: ['m0'], retried: [] });
    expect((await record('default', id))?.state).toBe('pending');
    // The re-queued message goes through the real local queue to the consumer.
    await vi.waitFor(async () => expect((await record('default', id))?.state).toBe('indexed'), {
      timeout: 20_000,
      interval: 250,
    });
  });
});

describe('handleDeadLetters', () => {
  it('ends an upsert that ran out of retries failed (dead_lettered), and acks what it cannot use', async () => {
    const c = uniq('dlq');
    const message = await accepted(c, 'dead', { image_url: demoUrl('demo-0010') });
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const result = await consume([message, { not: 'a message' }, r2Event('PutObject', 'incoming/z')], {
      queue: 'koclip-index-dlq',
    });
    expect(result).toEqual({ acked: ids(3), retried: [] });
    expect(await record(c, 'dead')).toMatchObject({ state: 'failed', error: { code: 'dead_lettered' } });
    expect(standIn.items).toEqual([]);
  });

  it('leaves a record that moved on alone (a newer event was accepted since)', async () => {
    const c = uniq('dlq-stale');
    const old = await accepted(c, 'moved', { image_url: demoUrl('demo-0010') });
    const fresh = await accepted(c, 'moved', { image_url: demoUrl('demo-0011') });
    await consume([old], { queue: 'koclip-index-dlq' });
    expect(await record(c, 'moved')).toMatchObject({ state: 'pending' });
    await consume([fresh]);
    expect((await record(c, 'moved'))?.state).toBe('indexed');
  });
});
