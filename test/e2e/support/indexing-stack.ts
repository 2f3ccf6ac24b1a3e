/**
 * Helpers of the indexing end-to-end tests: signed webhook calls, admin calls, polling stats,
 * and search by an image's bytes, against a Worker started by the launcher in scripts/stack.
 */

import { STACK_SECRETS } from '../../../scripts/stack/index';
import type { ImageStatus, IndexStats } from '../../../src/core/contract/ingest-schemas';
import { SIGNATURE_HEADER, signWebhook } from '../../../src/core/contract/webhook-signature';

export const adminHeaders = { authorization: `Bearer ${STACK_SECRETS.ADMIN_TOKEN}` };

/** A signed delivery: the body and the header it was signed with (to replay it exactly). */
export interface Delivery {
  body: string;
  signature: string;
}

export async function signed(events: unknown[], t?: number): Promise<Delivery> {
  const body = JSON.stringify({ events });
  return { body, signature: await signWebhook(STACK_SECRETS.WEBHOOK_SECRET, body, t) };
}

export async function deliver(base: string, delivery: Delivery): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${base}/v1/webhooks/index`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: delivery.signature },
    body: delivery.body,
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: response.status, body };
}

export async function stats(base: string, collection: string): Promise<IndexStats> {
  const response = await fetch(`${base}/v1/index/stats?collection=${collection}`, { headers: adminHeaders });
  if (!response.ok) throw new Error(`stats answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as IndexStats;
}

/** Polls stats until `done` holds (returns the stats) or `timeoutS` passes (throws with the last stats). */
export async function waitForStats(
  base: string,
  collection: string,
  done: (s: IndexStats) => boolean,
  timeoutS: number,
  onTick?: (s: IndexStats) => void,
): Promise<IndexStats> {
  const deadline = Date.now() + timeoutS * 1000;
  let last: IndexStats | undefined;
  while (Date.now() < deadline) {
    last = await stats(base, collection);
    onTick?.(last);
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`stats of ${collection} did not settle in ${timeoutS} s: ${JSON.stringify(last)}`);
}

export async function status(
  base: string,
  collection: string,
  id: string,
): Promise<{ status: number; body: ImageStatus }> {
  const response = await fetch(`${base}/v1/images/${encodeURIComponent(id)}?collection=${collection}`, {
    headers: adminHeaders,
  });
  return { status: response.status, body: (await response.json()) as ImageStatus };
}

export async function searchByImage(
  base: string,
  collection: string,
  png: Uint8Array,
  k = 5,
): Promise<{ id: string; score: number; metadata: Record<string, unknown> }[]> {
  const form = new FormData();
  form.set('image', new Blob([png], { type: 'image/png' }), 'q.png');
  form.set('k', String(k));
  form.set('collection', collection);
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(`${base}/v1/search`, { method: 'POST', body: form });
    const body = (await response.json()) as {
      results?: { id: string; score: number; metadata: Record<string, unknown> }[];
    };
    if (response.ok && body.results) return body.results;
    if (attempt >= 2 || response.status < 500)
      throw new Error(`search answered ${response.status}: ${JSON.stringify(body)}`);
  }
}

/** Runs `work` over `list`, `n` at a time. */
export async function eachLimit<T>(
  list: T[],
  n: number,
  work: (x: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, list.length) }, async () => {
      while (next < list.length) {
        const i = next++;
        await work(list[i] as T, i);
      }
    }),
  );
}
