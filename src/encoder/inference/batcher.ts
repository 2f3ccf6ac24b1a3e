/**
 * Dynamic batching: items submitted while the model is busy, or within `maxWaitMs` of the first
 * item of an idle period, run together as one batch of at most `maxBatch`. At most `maxRuns` runs
 * are in progress at once (one per runner), so under load batches fill up on their own and
 * throughput grows with concurrency; when idle a lone item waits at most `maxWaitMs`, and not at
 * all when no other item is on its way.
 */
export interface BatcherOptions {
  maxBatch: number;
  maxWaitMs: number;
  /** Runs that may be in progress at once (default 1). */
  maxRuns?: number;
  /**
   * How many more items are on their way (e.g. being decoded). When none are, a lone item runs
   * at once instead of waiting `maxWaitMs` for company that is not coming.
   */
  expected?: () => number;
  /** Called after every run with its size and duration. */
  onBatch?: (size: number, seconds: number, failed: boolean) => void;
}

interface Pending<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

export class DynamicBatcher<I, O> {
  #run: (items: I[]) => Promise<O[]>;
  #options: BatcherOptions;
  #pending: Pending<I, O>[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running = 0;

  constructor(run: (items: I[]) => Promise<O[]>, options: BatcherOptions) {
    this.#run = run;
    this.#options = options;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (this.#busy()) return;
      const full = this.#pending.length >= this.#options.maxBatch;
      if (full || this.#options.maxWaitMs === 0 || this.#options.expected?.() === 0) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), this.#options.maxWaitMs);
    });
  }

  #busy(): boolean {
    return this.#running >= (this.#options.maxRuns ?? 1);
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#busy() || this.#pending.length === 0) return;
    this.#running++;
    const batch = this.#pending.splice(0, this.#options.maxBatch);
    const started = performance.now();
    let failed = false;
    this.#run(batch.map((p) => p.item))
      .then((results) => {
        if (results.length !== batch.length)
          throw new Error(`batch returned ${results.length} of ${batch.length}`);
        for (const [i, p] of batch.entries()) p.resolve(results[i] as O);
      })
      .catch((error: unknown) => {
        failed = true;
        for (const p of batch) p.reject(error);
      })
      .finally(() => {
        this.#options.onBatch?.(batch.length, (performance.now() - started) / 1000, failed);
        this.#running--;
        // Whatever arrived during the run has already waited: run it now.
        if (this.#pending.length > 0) this.#flush();
      });
  }
}
