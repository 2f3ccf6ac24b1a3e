/**
 * GET /mac-peak?fn=dotI16|dotI8|mulAddF32&iters=N&reps=R: runs a loop of scripts/bench/wasm-peak
 * in this isolate (after an untimed warm-up for V8's tier-up) and answers the wall time of each
 * repetition (workerd's clock ticks in 1 ms steps, so N is chosen for runs of 100 ms or more).
 */
import peakModule from '../wasm-peak/peak.wasm';

type Peak = { prepare(): void } & Record<'dotI16' | 'dotI8' | 'mulAddF32', (iters: number) => number>;
let peak: Peak | undefined;

export async function macPeak(url: URL): Promise<Response> {
  const fn = url.searchParams.get('fn') ?? 'dotI16';
  if (fn !== 'dotI16' && fn !== 'dotI8' && fn !== 'mulAddF32') return new Response('bad fn', { status: 400 });
  const iters = Number(url.searchParams.get('iters') ?? 20_000_000);
  const reps = Number(url.searchParams.get('reps') ?? 5);
  if (!peak) {
    const instance = await WebAssembly.instantiate(peakModule, { env: { abort: () => undefined } });
    peak = instance.exports as unknown as Peak;
    peak.prepare();
  }
  const warmUntil = Date.now() + 1000;
  while (Date.now() < warmUntil) peak[fn](1_000_000);
  const ms: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = Date.now();
    peak[fn](iters);
    ms.push(Date.now() - t0);
  }
  return Response.json({ fn, iters, ms });
}
