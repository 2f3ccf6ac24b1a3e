/**
 * A test hook between the index writer and the queue: with DEBUG_ROUTES on, DEBUG_DROP_UPSERTS
 * (a share from 0 to 1) of the upserts ingest has had accepted lose their queue message, as if
 * the Worker died between `accept` and the send. Which ones is a pure function of id and seq
 * (`dropsMessage`), so a test can name them; the writer's reconciler must then bring each to an
 * outcome (test/e2e/indexing.liveness.e2e.test.ts). Off (0) unless both vars say otherwise.
 */
import { z } from 'zod';
import { sha256Bytes } from '../../core/hash';
import { type Env, readConfig } from '../env';

const Rate = z.coerce.number().min(0).max(1);

/** The share of messages to drop: 0 unless DEBUG_ROUTES is on and DEBUG_DROP_UPSERTS is a share. */
export function dropRate(env: Env): number {
  if (!readConfig(env).debugRoutes) return 0;
  const parsed = Rate.safeParse(env.DEBUG_DROP_UPSERTS || 0);
  return parsed.success ? parsed.data : 0;
}

/** Whether the hook drops the message of upsert `id` accepted with `seq`, at `rate`. */
export async function dropsMessage(rate: number, id: string, seq: number): Promise<boolean> {
  if (rate <= 0) return false;
  const [first = 0, second = 0] = await sha256Bytes(`${id}\u0000${seq}`);
  return (first * 256 + second) / 65536 < rate;
}
