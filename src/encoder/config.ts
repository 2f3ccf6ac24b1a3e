/**
 * Encoder settings, read once from the environment and parsed with zod. Every limit has a
 * default that suits the embedded koclip-tiny on a small CPU host.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { BEARER_TOKEN_PATTERN, ENCODER_LIMITS } from '../core/contract/encoder-api';
import { PIXEL_LIMITS } from '../core/contract/limits';

const MIB = 1024 * 1024;

const int = (min: number, max: number, fallback: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);
const list = z
  .string()
  .default('')
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x.length > 0),
  );
const bool = z
  .enum(['true', 'false', '1', '0', ''])
  .default('false')
  .transform((v) => v === 'true' || v === '1');

export const EnvSchema = z.object({
  ENCODER_HOST: z.string().min(1).default('127.0.0.1'),
  ENCODER_PORT: int(0, 65_535, 8788),
  ENCODER_TOKEN: z
    .string({ error: 'required: the bearer token the Worker sends (at least 8 characters)' })
    .min(8, 'at least 8 characters')
    .regex(BEARER_TOKEN_PATTERN, 'letters, digits and - . _ ~ + / only (then = padding), as a bearer token'),
  ENCODER_MODELS_DIR: z.string().min(1).default('models'),
  /** Model ids to load (folders of ENCODER_MODELS_DIR); empty = every folder with a manifest. */
  ENCODER_MODELS: list,
  ENCODER_DEFAULT_MODEL: z.string().min(1).default('koclip-tiny'),
  ENCODER_PROVIDER: z.enum(['cpu', 'cuda']).default('cpu'),
  ENCODER_CUDA_DEVICE: int(0, 64, 0),
  /** onnxruntime intra-op threads per runner; 0 = onnxruntime's default (the physical cores). */
  ENCODER_THREADS: int(0, 256, 0),
  /** onnxruntime threads each holding every model (batches that can run at once); 0 = auto. */
  ENCODER_RUNNERS: int(0, 64, 0),
  /** Worker threads that decode and preprocess images; 0 = on the main thread. */
  ENCODER_DECODE_THREADS: int(0, 64, availableParallelism()),
  /** Text tower variant on this host; empty = the manifest's default_variant. */
  ENCODER_TEXT_VARIANT: z.enum(['fp32', 'int8', '']).default(''),
  /** Image tower variant: auto = fp16 on the CUDA provider when the package has one, else fp32. */
  ENCODER_IMAGE_VARIANT: z.enum(['auto', 'fp32', 'fp16']).default('auto'),
  ENCODER_BATCH_SIZE: int(1, 1024, 32),
  ENCODER_MAX_WAIT_MS: int(0, 1000, 5),
  ENCODER_MAX_IMAGE_BYTES: int(1, 1024 * MIB, 20 * MIB),
  ENCODER_MAX_BODY_BYTES: int(1, 4096 * MIB, ENCODER_LIMITS.bodyBytes),
  ENCODER_MAX_PIXELS: int(1, 1_000_000_000, PIXEL_LIMITS.index),
  /** Decoded pixels of a query image (X-Encoder-Lane: query): search by image, score, patches. */
  ENCODER_MAX_QUERY_PIXELS: int(1, 1_000_000_000, PIXEL_LIMITS.query),
  /**
   * Query images fetched, decoded and embedded at once (inference/lanes.ts); the default is half
   * the cores (at least 1), so a flood of queries leaves the rest to indexing. 0: no split.
   */
  ENCODER_QUERY_SLOTS: int(0, 1024, Math.max(1, Math.floor(availableParallelism() / 2))),
  /** Query requests of one client (X-Encoder-Client) at once before 429 rate_limited; 0: no cap. */
  ENCODER_QUERY_PER_CLIENT: int(0, 1024, 4),
  // The Worker sends up to the contract's limits: a host may raise these, not lower them.
  ENCODER_MAX_IMAGES: int(1, 1024, ENCODER_LIMITS.images),
  ENCODER_MAX_TEXTS: int(1, 4096, ENCODER_LIMITS.texts),
  ENCODER_MAX_TEXT_CHARS: int(1, 100_000, ENCODER_LIMITS.textChars),
  ENCODER_FETCH_TIMEOUT_MS: int(1, 120_000, 10_000),
  ENCODER_FETCH_MAX_REDIRECTS: int(0, 20, 5),
  /** CIDRs (10.0.0.0/8, ::1/128), addresses or host names that URL fetching may reach despite being private. */
  ENCODER_URL_ALLOWLIST: list,
  /** Ask for the bearer token on /metrics too (default: /metrics is open, like /healthz). */
  ENCODER_METRICS_AUTH: bool,
});

export interface EncoderServiceConfig {
  host: string;
  port: number;
  token: string;
  modelsDir: string;
  models: string[];
  defaultModel: string;
  provider: 'cpu' | 'cuda';
  cudaDevice: number;
  /** onnxruntime intra-op threads per runner (0: onnxruntime's default). */
  threads: number;
  /** onnxruntime threads, each with a copy of every model. */
  runners: number;
  decodeThreads: number;
  textVariant: 'fp32' | 'int8' | undefined;
  imageVariant: 'auto' | 'fp32' | 'fp16';
  batchSize: number;
  maxWaitMs: number;
  limits: {
    imageBytes: number;
    bodyBytes: number;
    pixels: number;
    queryPixels: number;
    images: number;
    texts: number;
    textChars: number;
  };
  fetch: { timeoutMs: number; maxRedirects: number; allowList: string[] };
  /** The query lane (inference/lanes.ts). */
  lanes: { querySlots: number; queryPerClient: number };
  metricsAuth: boolean;
}

/**
 * Runners when not set: CUDA one (the GPU does the work); CPU two, so that one batch runs while
 * the next one forms instead of waiting for it (measured in docs/benchmarks.md). Each runner holds
 * a copy of every model. Intra-op threads stay onnxruntime's default unless set: a lone request
 * then still gets every core, and under load the measured throughput was the same as with one
 * thread per runner.
 */
export function runnerLayout(
  provider: 'cpu' | 'cuda',
  runners: number,
  threads: number,
  cores = availableParallelism(),
): { runners: number; threads: number } {
  return { runners: runners || (provider === 'cuda' ? 1 : Math.min(2, cores)), threads };
}

/** Parses the environment, throwing one Error that names every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): EncoderServiceConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid encoder configuration: ${issues.join('; ')}`);
  }
  const e = parsed.data;
  return {
    host: e.ENCODER_HOST,
    port: e.ENCODER_PORT,
    token: e.ENCODER_TOKEN,
    modelsDir: e.ENCODER_MODELS_DIR,
    models: e.ENCODER_MODELS,
    defaultModel: e.ENCODER_DEFAULT_MODEL,
    provider: e.ENCODER_PROVIDER,
    cudaDevice: e.ENCODER_CUDA_DEVICE,
    ...runnerLayout(e.ENCODER_PROVIDER, e.ENCODER_RUNNERS, e.ENCODER_THREADS),
    decodeThreads: e.ENCODER_DECODE_THREADS,
    textVariant: e.ENCODER_TEXT_VARIANT || undefined,
    imageVariant: e.ENCODER_IMAGE_VARIANT,
    batchSize: e.ENCODER_BATCH_SIZE,
    maxWaitMs: e.ENCODER_MAX_WAIT_MS,
    limits: {
      imageBytes: e.ENCODER_MAX_IMAGE_BYTES,
      bodyBytes: e.ENCODER_MAX_BODY_BYTES,
      pixels: e.ENCODER_MAX_PIXELS,
      queryPixels: e.ENCODER_MAX_QUERY_PIXELS,
      images: e.ENCODER_MAX_IMAGES,
      texts: e.ENCODER_MAX_TEXTS,
      textChars: e.ENCODER_MAX_TEXT_CHARS,
    },
    fetch: {
      timeoutMs: e.ENCODER_FETCH_TIMEOUT_MS,
      maxRedirects: e.ENCODER_FETCH_MAX_REDIRECTS,
      allowList: e.ENCODER_URL_ALLOWLIST,
    },
    lanes: { querySlots: e.ENCODER_QUERY_SLOTS, queryPerClient: e.ENCODER_QUERY_PER_CLIENT },
    metricsAuth: e.ENCODER_METRICS_AUTH,
  };
}
