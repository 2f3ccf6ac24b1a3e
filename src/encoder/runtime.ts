/**
 * The one module that touches onnxruntime-node: execution-provider choice, session creation and
 * runs. CUDA is used only when asked for and when its provider library loads; otherwise the CPU
 * provider runs, and the reason is logged and reported by /healthz. Runs on one session are
 * serialised (onnxruntime sessions are not meant to run concurrently on CPU; batching gives the
 * parallelism instead).
 */
import * as ort from 'onnxruntime-node';

export type Provider = 'cpu' | 'cuda';

export interface RuntimeOptions {
  provider: Provider;
  cudaDevice: number;
  /** Intra-op threads; 0 leaves onnxruntime's default. */
  threads: number;
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

export class OnnxSession {
  readonly inputNames: readonly string[];
  #session: ort.InferenceSession;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(session: ort.InferenceSession) {
    this.#session = session;
    this.inputNames = session.inputNames;
  }

  /** Image tower: `pixel_values [B,3,S,S]` -> `image_embeds [B,D]`. */
  runImage(pixels: Float32Array, batch: number, size: number): Promise<Embeddings> {
    const input = new ort.Tensor('float32', pixels, [batch, 3, size, size]);
    return this.#run({ pixel_values: input }, 'image_embeds');
  }

  /** Text tower: `input_ids, attention_mask [B,T]` -> `text_embeds [B,D]`. */
  runText(
    inputIds: BigInt64Array,
    attentionMask: BigInt64Array,
    batch: number,
    length: number,
  ): Promise<Embeddings> {
    return this.#run(
      {
        input_ids: new ort.Tensor('int64', inputIds, [batch, length]),
        attention_mask: new ort.Tensor('int64', attentionMask, [batch, length]),
      },
      'text_embeds',
    );
  }

  #run(feeds: Record<string, ort.Tensor>, output: string): Promise<Embeddings> {
    const result = this.#queue.then(async () => {
      const out = await this.#session.run(feeds);
      const tensor = out[output];
      if (tensor?.type !== 'float32' || tensor.dims.length !== 2) {
        throw new Error(`model output ${output} is missing or not float32 [B,D]`);
      }
      return { rows: Number(tensor.dims[0]), dim: Number(tensor.dims[1]), data: tensor.data as Float32Array };
    });
    this.#queue = result.catch(() => undefined);
    return result;
  }

  release(): Promise<void> {
    return this.#session.release();
  }
}

export class OnnxRuntime {
  readonly info: RuntimeInfo;
  #options: RuntimeOptions;

  private constructor(options: RuntimeOptions, info: RuntimeInfo) {
    this.#options = options;
    this.info = info;
  }

  /**
   * Chooses the execution provider: with `cuda` requested, a probe session on `probeModel`
   * must create with the CUDA provider, else the runtime falls back to CPU.
   */
  static async create(options: RuntimeOptions, probeModel: Uint8Array): Promise<OnnxRuntime> {
    const log = options.log ?? ((m: string) => console.log(m));
    const onnxruntime = ort.env.versions.node ?? ort.env.versions.common ?? 'unknown';
    if (options.provider === 'cpu') {
      log('onnxruntime: CPU execution provider (as configured)');
      return new OnnxRuntime(options, { requested: 'cpu', active: 'cpu', onnxruntime });
    }
    const supported = ort.listSupportedBackends().find((b) => b.name === 'cuda');
    try {
      const probe = await ort.InferenceSession.create(probeModel, sessionOptions(options, 'cuda'));
      await probe.release();
      log(`onnxruntime: CUDA execution provider on device ${options.cudaDevice}`);
      return new OnnxRuntime(options, { requested: 'cuda', active: 'cuda', onnxruntime });
    } catch (error) {
      const reason = `${supported?.bundled === false ? 'CUDA provider files not installed; ' : ''}${
        error instanceof Error ? error.message : String(error)
      }`;
      log(`onnxruntime: CUDA requested but unavailable, falling back to CPU: ${reason}`);
      return new OnnxRuntime(options, {
        requested: 'cuda',
        active: 'cpu',
        fallbackReason: reason,
        onnxruntime,
      });
    }
  }

  async load(model: Uint8Array): Promise<OnnxSession> {
    const session = await ort.InferenceSession.create(model, sessionOptions(this.#options, this.info.active));
    return new OnnxSession(session);
  }
}

function sessionOptions(options: RuntimeOptions, provider: Provider): ort.InferenceSession.SessionOptions {
  const executionProviders: ort.InferenceSession.ExecutionProviderConfig[] =
    provider === 'cuda' ? [{ name: 'cuda', deviceId: options.cudaDevice }] : ['cpu'];
  return {
    executionProviders,
    graphOptimizationLevel: 'all',
    // No busy-waiting between runs: on a small CPU host the decode threads need those cycles.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    ...(options.threads > 0 ? { intraOpNumThreads: options.threads } : {}),
  };
}
