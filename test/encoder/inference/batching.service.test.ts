/**
 * Dynamic batching: concurrent requests share model runs (seen through /metrics on the real
 * service), and the batcher itself honours max batch size and max wait.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamicBatcher } from '../../../src/encoder/inference/batcher';
import { type RunningEncoder, startEncoder } from '../support/service-process';

/** Count and sum of `encoder_batch_size` for the image tower, from the Prometheus text. */
async function imageBatches(
  encoder: RunningEncoder,
): Promise<{ runs: number; items: number; singles: number }> {
  const text = await (await encoder.call('/metrics', { auth: false })).text();
  const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    runs: value(/^encoder_batch_size_count\{model="koclip-tiny",tower="image"\} (\d+)/m),
    items: value(/^encoder_batch_size_sum\{model="koclip-tiny",tower="image"\} (\d+)/m),
    singles: value(/^encoder_batch_size_bucket\{le="1",model="koclip-tiny",tower="image"\} (\d+)/m),
  };
}

describe('the service batches concurrent requests', () => {
  let encoder: RunningEncoder;
  beforeAll(async () => {
    encoder = await startEncoder({ ENCODER_BATCH_SIZE: '16', ENCODER_MAX_WAIT_MS: '100' });
  });
  afterAll(() => encoder.stop());

  it('16 concurrent single-image requests run in fewer model runs than images', async () => {
    const images = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        sharp({
          create: { width: 64 + i, height: 48, channels: 3, background: { r: i * 15, g: 100, b: 200 } },
        })
          .png()
          .toBuffer(),
      ),
    );
    const before = await imageBatches(encoder);
    const answers = await Promise.all(
      images.map((bytes) =>
        encoder.call('/v1/embed/image', {
          method: 'POST',
          body: new Uint8Array(bytes),
          headers: { 'content-type': 'image/png' },
        }),
      ),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(16).fill(200));
    const after = await imageBatches(encoder);
    expect(after.items - before.items).toBe(16);
    const runs = after.runs - before.runs;
    expect(runs).toBeLessThan(16);
    // At least one run held more than one image.
    expect(after.runs - after.singles).toBeGreaterThan(before.runs - before.singles);
    const metrics = await (await encoder.call('/metrics', { auth: false })).text();
    expect(metrics).toMatch(/^encoder_requests_total\{route="\/v1\/embed\/image",status="200"\} 16$/m);
    expect(metrics).toMatch(/^encoder_request_duration_seconds_count\{route="\/v1\/embed\/image"\} 16$/m);
  });
});

describe('DynamicBatcher', () => {
  const echo = (sizes: number[]) =>
    new DynamicBatcher<number, number>(
      async (items) => {
        sizes.push(items.length);
        await new Promise((r) => setTimeout(r, 5));
        return items.map((x) => x * 2);
      },
      { maxBatch: 4, maxWaitMs: 20 },
    );

  it('splits a burst into batches of at most maxBatch, answers in order', async () => {
    const sizes: number[] = [];
    const batcher = echo(sizes);
    const out = await Promise.all(Array.from({ length: 10 }, (_, i) => batcher.submit(i)));
    expect(out).toEqual(Array.from({ length: 10 }, (_, i) => i * 2));
    expect(sizes).toEqual([4, 4, 2]);
  });

  it('a lone item waits at most maxWait', async () => {
    const sizes: number[] = [];
    const batcher = echo(sizes);
    const started = performance.now();
    expect(await batcher.submit(21)).toBe(42);
    expect(performance.now() - started).toBeLessThan(200);
    expect(sizes).toEqual([1]);
  });

  it('does not wait for company when no other item is on its way', async () => {
    let expected = 0;
    const sizes: number[] = [];
    const batcher = new DynamicBatcher<number, number>(
      async (items) => {
        sizes.push(items.length);
        return items;
      },
      { maxBatch: 8, maxWaitMs: 1000, expected: () => expected },
    );
    const started = performance.now();
    await batcher.submit(1);
    expect(performance.now() - started).toBeLessThan(500);
    // With two more on their way, the first waits and the three share one run.
    expected = 2;
    const first = batcher.submit(2);
    expected = 1;
    const second = batcher.submit(3);
    expected = 0;
    const third = batcher.submit(4);
    expect(await Promise.all([first, second, third])).toEqual([2, 3, 4]);
    expect(sizes).toEqual([1, 3]);
  });

  it('a failing run rejects only the items of that run', async () => {
    let calls = 0;
    const batcher = new DynamicBatcher<number, number>(
      async (items) => {
        calls++;
        if (calls === 1) throw new Error('boom');
        return items;
      },
      { maxBatch: 2, maxWaitMs: 1 },
    );
    const results = await Promise.allSettled([1, 2, 3].map((x) => batcher.submit(x)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
  });

  it.each([1, 2, 3])(
    'never has more than maxRuns = %i runs in progress, and uses them all',
    async (maxRuns) => {
      let running = 0;
      let peak = 0;
      const batcher = new DynamicBatcher<number, number>(
        async (items) => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((r) => setTimeout(r, 20));
          running--;
          return items.map((x) => x + 1);
        },
        { maxBatch: 2, maxWaitMs: 0, maxRuns },
      );
      const out = await Promise.all(Array.from({ length: 12 }, (_, i) => batcher.submit(i)));
      expect(out).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      expect(peak).toBe(maxRuns);
    },
  );
});
