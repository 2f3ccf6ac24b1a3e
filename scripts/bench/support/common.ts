/**
 * What the benchmarks share besides the stack they start (scripts/stack): the repository root, the
 * machine line of every figure, percentiles, a JSON POST, and objects put into a local R2 before a
 * Worker starts on the same persist folder.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { SIGNATURE_HEADER, signWebhook } from '../../../src/core/contract/webhook-signature';
import { NODE, ROOT, STACK_SECRETS } from '../../stack/index';

export { ROOT };

const WRANGLER_JS = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');

/** Puts a file into a bucket of the local R2 under `persist` (the bucket's name, not binding). */
export function putLocalObject(persist: string, bucket: string, key: string, file: string): void {
  const r = spawnSync(
    NODE,
    [
      WRANGLER_JS,
      'r2',
      'object',
      'put',
      `${bucket}/${key}`,
      '--file',
      file,
      '--local',
      '--persist-to',
      persist,
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`wrangler r2 object put ${key} failed: ${r.stderr}`);
}

export async function postJson<T>(base: string, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path} -> ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** p-th percentile (0-100) of a list, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** Machine line for every figure: CPU model, cores, load average at the time. */
export async function machine(): Promise<{ cpu: string; cores: number; load: number[]; at: string }> {
  const os = await import('node:os');
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    load: os.loadavg().map((l) => Math.round(l * 10) / 10),
    at: new Date().toISOString(),
  };
}

/** One signed webhook of `events` to the stack at `base` (its secret), retried on a 5xx. */
export async function webhook(base: string, events: unknown[]): Promise<void> {
  const body = JSON.stringify({ events });
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(`${base}/v1/webhooks/index`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [SIGNATURE_HEADER]: await signWebhook(STACK_SECRETS.WEBHOOK_SECRET, body),
      },
      body,
    });
    if (response.status === 202) return void (await response.arrayBuffer());
    if (attempt >= 5 || response.status < 500)
      throw new Error(`webhook ${response.status}: ${await response.text()}`);
    await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
  }
}
