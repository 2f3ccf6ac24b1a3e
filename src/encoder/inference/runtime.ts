/**
 * The encoder's onnxruntime: execution-provider choice, session creation and runs, all carried
 * out on dedicated runner threads (runtime-thread.ts, the only module that imports
 * onnxruntime-node) so that the main thread keeps serving HTTP while a batch runs. Each runner
 * holds a copy of every model and runs one batch at a time; a run goes to the least busy runner.
 * CUDA is used only when asked for and when its provider library loads; otherwise the CPU
 * provider runs, and the reason is logged and reported by /healthz.
 */
import { Worker } from 'node:worker_threads';
import type { ImageSpec } from '../images/pixel-tensor';

export type Provider = 'cpu' | 'cuda';

export interface RuntimeOptions {
  provider: Provider;
  cudaDevice: number;
  /** Intra-op threads; 0 leaves onnxruntime's default. */
  threads: number;
  /** Runtime threads, each holding every session: up to this many runs at once. */
  runners: number;
  log?: (message: string) => void;
}

export interface RuntimeInfo {
  requested: Provider;
  active: Provider;
  /** Why the requested provider is not the active one. */
  fallbackReason?: string;
  onnxruntime: string;
}

/** A float32 `[B, D]` output. */
export interface Embeddings {
  rows: number;
  dim: number;
  data: Float32Array;
}

/** A tensor as it crosses to the runtime thread. */
export interface WireTensor {
  type: 'float32' | 'int64';
  data: Float32Array | BigInt64Array;
  dims: number[];
}

/**
 * A batch of `[size, size, 3]` RGB crops that the runtime thread normalises into a float32
 * `[B, 3, size, size]` input (4x fewer bytes cross threads than the float32 tensor would).
 */
export interface WireCrops {
  type: 'rgb8';
  data: Uint8Array;
  batch: number;
  spec: ImageSpec;
}

/** Messages to the runtime thread, and its answers (runtime-thread.ts). */
export type RuntimeRequest =
  | { op: 'init'; provider: Provider; cudaDevice: number; threads: number; probe?: Uint8Array }
  | { op: 'load'; model: Uint8Array; externalDataFolder?: string }
  | { op: 'run'; session: number; feeds: Record<string, WireTensor | WireCrops>; output: string }
  | { op: 'release'; session: number };

export type RuntimeResponse =
  | { op: 'init'; info: RuntimeInfo }
  | { op: 'load'; session: number; inputNames: string[]; types: Record<string, string> }
  | ({ op: 'run' } & Embeddings)
  | { op: 'release' };

type Reply = { id: number; ok: true; response: RuntimeResponse } | { id: number; ok: false; message: string };

/** The main thread's handle on the runtime thread. */
class RuntimeThread {
  #worker: Worker;
  #pending = new Map<number, { resolve: (r: RuntimeResponse) => void; reject: (e: Error) => void }>();
  #nextId = 0;
  #closing = false;

  constructor() {
    this.#worker = new Worker(new URL('./runtime-thread.ts', import.meta.url));
    this.#worker.on('message', (reply: Reply) => {
      const waiter = this.#pending.get(reply.id);
      if (!waiter) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) this.#worker.unref();
      if (reply.ok) waiter.resolve(reply.response);
      else waiter.reject(new Error(reply.message));
    });
    const fail = (error: Error) => {
      for (const waiter of this.#pending.values()) waiter.reject(error);
      this.#pending.clear();
      if (this.#closing) return;
      // The sessions lived on that thread: without them this process cannot serve. Exit, so
      // that whatever supervises the encoder starts a fresh one.
      console.error(`encoder: the onnxruntime thread failed: ${error.message}`);
      process.exit(1);
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => fail(new Error(`the onnxruntime thread exited with ${code}`)));
    this.#worker.unref();
  }

  call<Op extends RuntimeRequest['op']>(
    request: Extract<RuntimeRequest, { op: Op }>,
    transfer: ArrayBuffer[] = [],
  ): Promise<Extract<RuntimeResponse, { op: Op }>> {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { resolve: resolve as (r: RuntimeResponse) => void, reject });
      // Held while an answer is awaited (an idle runtime thread alone keeps nothing alive).
      this.#worker.ref();
      this.#worker.postMessage({ id, request }, transfer);
    });
  }

  /** Calls sent and not answered yet. */
  get inFlight(): number {
    return this.#pending.size;
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.#worker.terminate();
  }
}

/** One model loaded on every runtime thread; a run goes to the least busy one. */
export class OnnxSession {
  readonly inputNames: readonly string[];
  /** Element type of each tensor input and output by name (`float32`, `float16`, `int64`, ...). */
  readonly types: Readonly<Record<string, string>>;
  #copies: { thread: RuntimeThread; id: number }[];

  constructor(
    copies: { thread: RuntimeThread; id: number }[],
    inputNames: readonly string[],
    types: Readonly<Record<string, string>>,
  ) {
    this.#copies = copies;
    this.inputNames = inputNames;
    this.types = types;
  }

  /**
   * Image tower: B stacked RGB crops -> `pixel_values [B,3,S,S]` (normalised with `spec` on the
   * runtime thread) -> `image_embeds [B,D]`. The crops' buffer is handed over.
   */
  runImage(crops: Uint8Array, batch: number, spec: ImageSpec): Promise<Embeddings> {
    const feeds = { pixel_values: { type: 'rgb8' as const, data: crops, batch, spec } };
    return this.#run(feeds, 'image_embeds', [crops.buffer as ArrayBuffer]);
  }

  /** Text tower: `input_ids, attention_mask [B,T]` -> `text_embeds [B,D]`. */
  runText(
    inputIds: BigInt64Array,
    attentionMask: BigInt64Array,
    batch: number,
    length: number,
  ): Promise<Embeddings> {
    const feeds = {
      input_ids: { type: 'int64' as const, data: inputIds, dims: [batch, length] },
      attention_mask: { type: 'int64' as const, data: attentionMask, dims: [batch, length] },
    };
    return this.#run(feeds, 'text_embeds');
  }

  async #run(
    feeds: Record<string, WireTensor | WireCrops>,
    output: string,
    transfer?: ArrayBuffer[],
  ): Promise<Embeddings> {
    const copy = this.#copies.reduce((a, b) => (b.thread.inFlight < a.thread.inFlight ? b : a));
    const request = { op: 'run' as const, session: copy.id, feeds, output };
    const { rows, dim, data } = await copy.thread.call(request, transfer);
    return { rows, dim, data };
  }

  async release(): Promise<void> {
    await Promise.all(this.#copies.map((c) => c.thread.call({ op: 'release', session: c.id })));
  }
}

export class OnnxRuntime {
  readonly info: RuntimeInfo;
  #threads: RuntimeThread[];

  private constructor(threads: RuntimeThread[], info: RuntimeInfo) {
    this.#threads = threads;
    this.info = info;
  }

  /** How many runs can happen at once (one per runtime thread). */
  get runners(): number {
    return this.#threads.length;
  }

  /**
   * Starts the runner threads and chooses the execution provider: with `cuda` requested, a probe
   * session on `probeModel` must create with the CUDA provider, else the runtime falls back to CPU.
   */
  static async create(options: RuntimeOptions, probeModel?: Uint8Array): Promise<OnnxRuntime> {
    const log = options.log ?? ((m: string) => console.log(m));
    const threads = Array.from({ length: Math.max(1, options.runners) }, () => new RuntimeThread());
    const answers = await Promise.all(
      threads.map((thread) =>
        thread.call({
          op: 'init',
          provider: options.provider,
          cudaDevice: options.cudaDevice,
          threads: options.threads,
          ...(probeModel ? { probe: probeModel } : {}),
        }),
      ),
    );
    const info = (answers[0] as (typeof answers)[number]).info;
    if (info.active === 'cuda') log(`onnxruntime: CUDA execution provider on device ${options.cudaDevice}`);
    else if (info.requested === 'cpu') log('onnxruntime: CPU execution provider (as configured)');
    else log(`onnxruntime: CUDA requested but unavailable, falling back to CPU: ${info.fallbackReason}`);
    return new OnnxRuntime(threads, info);
  }

  /** Loads a graph on every thread. `externalDataFolder`: where the files the graph names as its
   * external data are read from (a graph loaded from bytes has no folder of its own). */
  async load(model: Uint8Array, options: { externalDataFolder?: string } = {}): Promise<OnnxSession> {
    const request = { op: 'load' as const, model, ...options };
    const loaded = await Promise.all(
      this.#threads.map(async (thread) => ({ thread, answer: await thread.call(request) })),
    );
    const copies = loaded.map(({ thread, answer }) => ({ thread, id: answer.session }));
    const { inputNames, types } = (loaded[0] as (typeof loaded)[number]).answer;
    return new OnnxSession(copies, inputNames, types);
  }

  async close(): Promise<void> {
    await Promise.all(this.#threads.map((t) => t.close()));
  }
}
