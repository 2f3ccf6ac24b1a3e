import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { SIGNATURE_TOLERANCE_S } from '../../../src/core/contract/webhook-signature';
import { replayGuardFor } from '../../../src/edge/ingest/replay-guard';

const sig = (first: string, n: number) => `${first}${n.toString(16).padStart(63, '0')}`;
const nowS = () => Math.floor(Date.now() / 1000);

describe('ReplayGuard', () => {
  it('remembers a signature once: the second time it is a replay', async () => {
    const s = sig('a', 1);
    const guard = replayGuardFor(env, s);
    expect(await guard.remember(s, nowS())).toBe(true);
    expect(await guard.remember(s, nowS())).toBe(false);
    expect(await guard.remember(sig('a', 2), nowS())).toBe(true);
  });

  it('shards by the first hex character: 16 objects, the same one for the same character', async () => {
    const ids = new Set(
      '0123456789abcdef'.split('').map((c) => replayGuardFor(env, sig(c, 3)).id.toString()),
    );
    expect(ids.size).toBe(16);
    expect(replayGuardFor(env, sig('b', 4)).id.toString()).toBe(
      replayGuardFor(env, sig('b', 5)).id.toString(),
    );
  });

  it('forgets a signature on request (a delivery that failed on our side may be retried)', async () => {
    const s = sig('c', 6);
    const guard = replayGuardFor(env, s);
    expect(await guard.remember(s, nowS())).toBe(true);
    await guard.forget(s);
    expect(await guard.remember(s, nowS())).toBe(true);
  });

  it('its alarm deletes entries whose window has passed and keeps the others', async () => {
    const guard = replayGuardFor(env, sig('d', 0));
    const old = sig('d', 7);
    const fresh = sig('d', 8);
    // The fresh one first: its alarm (set for when it leaves the window) is the one pending.
    expect(await guard.remember(fresh, nowS())).toBe(true);
    expect(await guard.remember(old, nowS() - SIGNATURE_TOLERANCE_S - 3600)).toBe(true);
    expect(await guard.size()).toBe(2);
    expect(await runDurableObjectAlarm(guard)).toBe(true);
    expect(await guard.size()).toBe(1);
    expect(await guard.remember(fresh, nowS())).toBe(false);
    // The next alarm is set for when the entry left leaves its window.
    const alarm = await runInDurableObject(guard, (_, state) => state.storage.getAlarm());
    expect(alarm).toBeGreaterThan(Date.now() + SIGNATURE_TOLERANCE_S * 1000);
  });
});
