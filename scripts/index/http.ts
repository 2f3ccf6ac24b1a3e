/**
 * HTTP for the bulk CLI: a request rate limit shared by all workers, retries of 429, 5xx and
 * network errors with exponential backoff and jitter (Retry-After honoured), and a stop signal
 * that ends waits early (Ctrl-C). A 4xx other than 429 is an answer, not retried.
 */

export class Stopped extends Error {
  constructor() {
    super('stopped');
  }
}

/** Resolves after `ms`, or rejects with Stopped as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Stopped());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Stopped());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** At most `perSecond` starts per second across every caller (evenly spaced); unlimited when 0. */
export class RateLimiter {
  private next = 0;
  constructor(private readonly perSecond: number) {}

  async take(signal?: AbortSignal): Promise<void> {
    if (!this.perSecond) return;
    const now = performance.now();
    const at = Math.max(now, this.next);
    this.next = at + 1000 / this.perSecond;
    if (at > now) await sleep(at - now, signal);
  }
}

export interface RetryOptions {
  /** Tries after the first one. */
  retries: number;
  /** First backoff; doubles each try, up to maxDelayMs, times a jitter of 0.5..1.5. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Per attempt. */
  timeoutMs: number;
  limiter: RateLimiter;
  signal?: AbortSignal;
  /** Told about each retry (for the progress display). */
  onRetry?: (reason: string, attempt: number, delayMs: number) => void;
}

export interface Answer {
  status: number;
  body: unknown;
  text: string;
  /** Tries it took (1 when the first answered). */
  attempts: number;
}

export const retryable = (status: number) => status === 429 || status >= 500;

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const s = Number(header);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/**
 * Sends the request `make` builds (called again for each try, so a webhook is re-signed) until
 * it gets an answer that is not retryable or the retries run out; the last answer is returned
 * then. A network error or timeout on the last try throws.
 */
export async function requestWithRetry(
  make: (attempt: number) => Promise<{ url: string; init: RequestInit }>,
  options: RetryOptions,
): Promise<Answer> {
  for (let attempt = 1; ; attempt++) {
    await options.limiter.take(options.signal);
    const { url, init } = await make(attempt);
    let reason: string;
    let waitHint: number | undefined;
    try {
      const response = await fetch(url, { ...init, signal: AbortSignal.timeout(options.timeoutMs) });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: kept as text
      }
      if (!retryable(response.status) || attempt > options.retries) {
        return { status: response.status, body, text, attempts: attempt };
      }
      reason = `HTTP ${response.status}${errorSuffix(body)}`;
      waitHint = retryAfterMs(response.headers.get('retry-after'));
    } catch (error) {
      const e = error as Error & { cause?: { code?: string } };
      reason =
        e.name === 'TimeoutError' ? `timed out after ${options.timeoutMs} ms` : (e.cause?.code ?? e.message);
      if (attempt > options.retries) throw new Error(`${reason} (after ${attempt} tries)`);
    }
    const backoff =
      Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1)) * (0.5 + Math.random());
    const delay = Math.min(60_000, Math.max(backoff, waitHint ?? 0));
    options.onRetry?.(reason, attempt, delay);
    await sleep(delay, options.signal);
  }
}

/** ` (code: message)` of the error envelope, when the body is one. */
export function errorSuffix(body: unknown): string {
  const e = errorOf(body);
  return e ? ` (${e.code}: ${e.message})` : '';
}

export function errorOf(body: unknown): { code: string; message: string } | undefined {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (e && typeof e === 'object')
    return { code: String(e.code ?? 'error'), message: String(e.message ?? '') };
  return undefined;
}
