/**
 * Which failures end an image `failed` and which are delivered again, and when. The encoder's
 * answers about the image (4xx: not an image, truncated, too large, URL refused, a URL that
 * answers 404...) are permanent. Faults of the encoder (5xx, timeouts, unreachable, answers out of
 * contract) are retried with exponential backoff until the queue's max_retries sends the message
 * to the dead-letter queue. A URL the encoder could not fetch (timeout, connection failure, the
 * origin's 5xx) is retried a few deliveries, then failed with the encoder's reason.
 */
import { z } from 'zod';
import { type Env, parseVars } from '../env';

/** Deliveries after which a URL that still cannot be fetched ends `failed`. */
export const URL_FETCH_ATTEMPTS = 3;
/** Longest delay before a delivery is tried again (QUEUE_RETRY_MAX_DELAY_S may lower it). */
export const MAX_RETRY_DELAY_S = 300;

const CapSchema = z.object({
  QUEUE_RETRY_MAX_DELAY_S: z.coerce.number().int().min(1).max(MAX_RETRY_DELAY_S).default(MAX_RETRY_DELAY_S),
});

/**
 * The backoff's cap from QUEUE_RETRY_MAX_DELAY_S (unset or empty: MAX_RETRY_DELAY_S). A value
 * that is not a whole number of seconds from 1 to 300 is 500 `misconfigured` (the batch fails
 * and is delivered again, and the log says why).
 */
export function retryCapSeconds(env: Partial<Pick<Env, 'QUEUE_RETRY_MAX_DELAY_S'>>): number {
  return parseVars(CapSchema, env).QUEUE_RETRY_MAX_DELAY_S;
}

/** Delay before the next delivery of a message delivered `attempts` times: 2, 4, 8, ... `max` s. */
export function retryDelaySeconds(attempts: number, max = MAX_RETRY_DELAY_S): number {
  return Math.min(max, 2 ** Math.max(1, Math.min(attempts, 16)));
}

/** An item error as the encoder batch client reports it. */
export interface ItemError {
  status: number;
  code: string;
  message: string;
}

const URL_FETCH_CODES = new Set(['fetch_failed', 'fetch_timeout']);

/** The origin's HTTP status in an `upstream_status` message ("the image URL answered HTTP 503"). */
function upstreamStatus(message: string): number | undefined {
  const match = /HTTP (\d{3})/.exec(message);
  return match ? Number(match[1]) : undefined;
}

/** `permanent`: apply the error (the record ends failed); `retry`: deliver the message again. */
export function classifyItemError(error: ItemError, attempts: number): 'permanent' | 'retry' {
  const transientUrl =
    URL_FETCH_CODES.has(error.code) ||
    (error.code === 'upstream_status' &&
      ((upstreamStatus(error.message) ?? 500) >= 500 ||
        [408, 429].includes(upstreamStatus(error.message) ?? 0)));
  if (transientUrl) return attempts >= URL_FETCH_ATTEMPTS ? 'permanent' : 'retry';
  if (error.code === 'upstream_status' || error.code === 'too_many_redirects') return 'permanent';
  return error.status >= 500 ? 'retry' : 'permanent';
}
