/**
 * The encoder's two lanes of image work. Indexing (the queue consumer, `X-Encoder-Lane: index`)
 * and query images (search by image, score, patches: `query`) share one process, so a flood of
 * queries must not stall ingestion:
 * - at most `slots` query images are fetched, decoded and embedded at once (the rest wait here,
 *   in order); indexing has no such cap, and in the decode pool the two lanes take turns, so
 *   waiting query images never stand in front of indexing (../images/decode-pool.ts);
 * - one client (`X-Encoder-Client`) may have at most `perClient` query requests in the encoder at
 *   once; one more is refused at once with 429 `rate_limited` and `Retry-After`.
 * `slots` 0 turns the split off (queries queue with indexing, as before lanes); `perClient` 0
 * turns the per-client cap off. Counts are per encoder process.
 */
import { EncoderError } from '../http/errors';

export interface LaneOptions {
  /** Query images prepared or embedded at once (0: no query lane). */
  slots: number;
  /** Query requests of one client at once (0: no cap). */
  perClient: number;
}

/** Seconds a refused client is told to wait: query work takes well under a second each. */
export const RETRY_AFTER_S = 1;

export class QueryLane {
  readonly slots: number;
  readonly perClient: number;
  #running = 0;
  #waiting: (() => void)[] = [];
  #clients = new Map<string, number>();

  constructor(options: LaneOptions) {
    this.slots = options.slots;
    this.perClient = options.perClient;
  }

  /** Whether queries have their own share (otherwise they queue with indexing). */
  get split(): boolean {
    return this.slots > 0;
  }

  /** Query requests in the encoder now, per client (tests, metrics). */
  inFlight(client: string): number {
    return this.#clients.get(client) ?? 0;
  }

  /** Counts a query request of `client`; throws 429 when it already has `perClient`. */
  enter(client: string): () => void {
    const now = this.#clients.get(client) ?? 0;
    if (this.perClient > 0 && now >= this.perClient) {
      throw new EncoderError(
        429,
        'rate_limited',
        `at most ${this.perClient} query images of one client at once; retry after ${RETRY_AFTER_S} s`,
        { headers: { 'retry-after': String(RETRY_AFTER_S) } },
      );
    }
    this.#clients.set(client, now + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const n = (this.#clients.get(client) ?? 1) - 1;
      if (n <= 0) this.#clients.delete(client);
      else this.#clients.set(client, n);
    };
  }

  /** Waits for one of the query slots (at once when the split is off); call the result to free it. */
  async slot(): Promise<() => void> {
    if (!this.split) return () => {};
    if (this.#running >= this.slots) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#running++;
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      const next = this.#waiting.shift();
      // The slot passes straight to the next waiter (the count stays), or is given back.
      if (next) next();
      else this.#running--;
    };
  }
}
