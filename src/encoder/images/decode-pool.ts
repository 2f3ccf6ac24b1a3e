/**
 * A small pool of decode worker threads (see decode-worker.ts). Each worker holds at most two
 * jobs at once so that one image's libvips decode overlaps another's resampling; with a size of
 * 0 images are prepared in-process. Jobs wait in one queue per lane and, while both lanes wait,
 * the lanes take turns: a queue of query images (whose number in flight ../inference/lanes.ts
 * caps) never stands in front of indexing, and indexing never shuts queries out.
 */
import { Worker } from 'node:worker_threads';
import { EncoderError } from '../http/errors';
import { type PreparedImage, type PrepareJob, prepareImage } from './prepare-image';

const PER_WORKER = 2;

type Reply =
  | { id: number; ok: true; prepared: PreparedImage }
  | { id: number; ok: false; error: { status: number; code: string; message: string } };

export type PoolLane = 'index' | 'query';

interface Task {
  id: number;
  job: PrepareJob;
  resolve: (p: PreparedImage) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  running: Map<number, Task>;
}

export class DecodePool {
  #slots: Slot[] = [];
  /** Waiting jobs per lane, and the lane of the last job started (the other goes next). */
  #queues: Record<PoolLane, Task[]> = { index: [], query: [] };
  #last: PoolLane = 'query';
  #nextId = 0;
  #closed = false;

  constructor(size: number) {
    for (let i = 0; i < size; i++) this.#slots.push(this.#spawn());
  }

  get size(): number {
    return this.#slots.length;
  }

  #spawn(): Slot {
    const worker = new Worker(new URL('./decode-worker.ts', import.meta.url));
    const slot: Slot = { worker, running: new Map() };
    worker.on('message', (reply: Reply) => {
      const task = slot.running.get(reply.id);
      if (!task) return;
      slot.running.delete(reply.id);
      if (reply.ok) task.resolve(reply.prepared);
      else task.reject(new EncoderError(reply.error.status, reply.error.code, reply.error.message));
      this.#pump();
    });
    worker.on('error', (error) => this.#replace(slot, error));
    worker.on('exit', (code) => {
      if (!this.#closed) this.#replace(slot, new Error(`decode worker exited with ${code}`));
    });
    worker.unref();
    return slot;
  }

  #replace(slot: Slot, error: unknown): void {
    for (const task of slot.running.values()) task.reject(error);
    slot.running.clear();
    const index = this.#slots.indexOf(slot);
    if (index < 0 || this.#closed) return;
    void slot.worker.terminate();
    this.#slots[index] = this.#spawn();
    this.#pump();
  }

  #pump(): void {
    for (;;) {
      const { index, query } = this.#queues;
      const lane: PoolLane =
        index.length > 0 && (query.length === 0 || this.#last === 'query') ? 'index' : 'query';
      const queue = this.#queues[lane];
      if (queue.length === 0) return;
      const slot = this.#slots.reduce<Slot | undefined>(
        (best, s) =>
          s.running.size < PER_WORKER && (!best || s.running.size < best.running.size) ? s : best,
        undefined,
      );
      if (!slot) return;
      const task = queue.shift() as Task;
      this.#last = lane;
      slot.running.set(task.id, task);
      // The bytes move to the worker when they own their whole buffer (nothing here reads them
      // again); a view into a shared buffer (a multipart body) is copied.
      const { bytes } = task.job;
      const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
      slot.worker.postMessage({ id: task.id, job: task.job }, owned ? [bytes.buffer as ArrayBuffer] : []);
    }
  }

  prepare(job: PrepareJob, lane: PoolLane = 'index'): Promise<PreparedImage> {
    if (this.#slots.length === 0) return prepareImage(job);
    return new Promise((resolve, reject) => {
      this.#queues[lane].push({ id: this.#nextId++, job, resolve, reject });
      this.#pump();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
