import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { MAX_RETRY_DELAY_S, retryCapSeconds, retryDelaySeconds } from '../../../src/edge/queue/failures';

describe('queue retry backoff', () => {
  it('doubles from 2 s per delivery up to 300 s', () => {
    expect([1, 2, 3, 8, 9, 40].map((a) => retryDelaySeconds(a))).toEqual([2, 4, 8, 256, 300, 300]);
    expect(retryDelaySeconds(0)).toBe(2);
  });

  it('is capped by QUEUE_RETRY_MAX_DELAY_S (tests that inject faults lower it)', () => {
    expect([1, 2, 3, 9].map((a) => retryDelaySeconds(a, 3))).toEqual([2, 3, 3, 3]);
    expect(retryCapSeconds({ ...env, QUEUE_RETRY_MAX_DELAY_S: '3' })).toBe(3);
    expect(retryCapSeconds({ ...env, QUEUE_RETRY_MAX_DELAY_S: '' })).toBe(MAX_RETRY_DELAY_S);
  });

  it('refuses a cap that is not a whole number of seconds from 1 to 300 (500 misconfigured)', () => {
    for (const bad of ['0', '301', '2.5', 'soon']) {
      expect(() => retryCapSeconds({ ...env, QUEUE_RETRY_MAX_DELAY_S: bad })).toThrow(
        expect.objectContaining({ status: 500, code: 'misconfigured' }),
      );
    }
  });
});
