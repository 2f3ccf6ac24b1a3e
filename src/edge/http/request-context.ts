/**
 * What the code below a request (or a queue batch) knows of it without being handed it: its
 * request id, the encoder lane its image work goes to and the client a query counts against
 * (both sent to the encoder by ../inference/encoder-client.ts on every call), and the time its
 * encoder calls took (the request's log line). Kept in an AsyncLocalStorage (workerd's
 * `nodejs_als`), set by the request log middleware (./request-log.ts) and the queue consumer.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ENCODER_HEADERS, type EncoderLane } from '../../core/contract/encoder-api';

export interface RequestScope {
  requestId: string;
  /** `query` for HTTP requests, `index` for the queue consumer. */
  lane: EncoderLane;
  /** `key:<id>` or `ip:<address>` (or `anonymous`), read when the first encoder call is made. */
  client: () => string;
  /** Milliseconds spent in encoder calls so far (summed; concurrent calls count each). */
  encoderMs: number;
  encoderCalls: number;
}

const storage = new AsyncLocalStorage<RequestScope>();

/** Runs `work` inside `scope`. */
export function withRequestScope<R>(scope: RequestScope, work: () => R): R {
  return storage.run(scope, work);
}

/** The scope of the running request or batch, if any. */
export function currentScope(): RequestScope | undefined {
  return storage.getStore();
}

/** The headers every encoder call carries (none outside a request or batch). */
export function encoderCallHeaders(): Record<string, string> {
  const scope = storage.getStore();
  if (!scope) return {};
  return {
    [ENCODER_HEADERS.requestId]: scope.requestId,
    [ENCODER_HEADERS.lane]: scope.lane,
    ...(scope.lane === 'query' ? { [ENCODER_HEADERS.client]: scope.client() } : {}),
  };
}

/** Adds one encoder call's time to the running request's. */
export function recordEncoderCall(ms: number): void {
  const scope = storage.getStore();
  if (!scope) return;
  scope.encoderMs += ms;
  scope.encoderCalls++;
}
