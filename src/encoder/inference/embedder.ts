/**
 * The encoder's domain: images (bytes or URLs) and texts in, embeddings out. Each item is fetched,
 * decoded and preprocessed on its own, then joins its model's dynamic batch; a failure of one
 * item (bad URL, not an image, too many pixels) becomes that item's error and nothing else's.
 */
import type { EmbeddedImage, EncoderLane, FailedImage, TextItem } from '../../core/contract/encoder-api';
import type { TextVariant } from '../../core/manifest';
import { padBatch } from '../../core/tokenizer';
import { EncoderError } from '../http/errors';
import type { EncoderMetrics } from '../http/metrics';
import type { DecodePool } from '../images/decode-pool';
import { type FetchLimits, fetchImage } from '../images/fetch-image';
import type { Crop } from '../images/pixel-tensor';
import type { UrlGuard } from '../images/url-guard';
import { DynamicBatcher } from './batcher';
import type { QueryLane } from './lanes';
import type { LoadedModel, TextTowerSession } from './model-package';
import type { Embeddings } from './runtime';

/** An image to embed; `error` is an item the request reader already refused (e.g. too large). */
export type ImageToEmbed =
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'url'; url: string }
  | { kind: 'error'; error: EncoderError };

/** An image's (or grid cell's) item of the answer; a failure also has the status it answers alone. */
export type ImageItem = EmbeddedImage | (FailedImage & { status: number });

export interface EmbedderOptions {
  maxBatch: number;
  maxWaitMs: number;
  /** Batches of one tower that may run at once (the runtime's runners). */
  maxRuns: number;
  /** Decoded pixels of an image to index (the index lane). */
  maxPixels: number;
  /** Decoded pixels of a query image (the query lane). */
  maxQueryPixels: number;
  /** The query lane's share of the encoder (./lanes.ts). */
  queryLane: QueryLane;
  fetch: FetchLimits;
  /** Where images are decoded and preprocessed (worker threads, or in-process with size 0). */
  pool: DecodePool;
}

function rows(out: Embeddings, count: number): Float32Array[] {
  if (out.rows !== count) throw new Error(`model returned ${out.rows} rows for ${count} inputs`);
  return Array.from({ length: count }, (_, i) => out.data.slice(i * out.dim, (i + 1) * out.dim));
}

/** Batchers of one loaded model: its image tower's, and one per text tower in use. */
class ModelBatchers {
  readonly image: DynamicBatcher<Crop, Float32Array>;
  readonly #texts = new Map<string, DynamicBatcher<number[], Float32Array>>();
  readonly #model: LoadedModel;
  readonly #batching: { maxBatch: number; maxWaitMs: number; maxRuns: number };
  readonly #observe: (tower: 'image' | 'text') => (n: number, seconds: number) => void;

  /** Images of this model being fetched or decoded right now (they will join a batch soon). */
  preparing = 0;

  constructor(model: LoadedModel, options: EmbedderOptions, metrics: EncoderMetrics) {
    const size = model.manifest.image.size;
    const observe = (tower: 'image' | 'text') => (n: number, seconds: number) => {
      metrics.batchSize.observe({ model: model.id, tower }, n);
      metrics.modelSeconds.observe({ model: model.id, tower }, seconds);
    };
    const batching = { maxBatch: options.maxBatch, maxWaitMs: options.maxWaitMs, maxRuns: options.maxRuns };
    this.#model = model;
    this.#batching = batching;
    this.#observe = observe;
    const { mean, std } = model.manifest.image;
    this.image = new DynamicBatcher(
      async (crops) => {
        const bytes = 3 * size * size;
        const stacked = new Uint8Array(crops.length * bytes);
        for (const [i, crop] of crops.entries()) stacked.set(crop, i * bytes);
        const out = await model.image.runImage(stacked, crops.length, { size, mean, std });
        return rows(out, crops.length);
      },
      { ...batching, onBatch: observe('image'), expected: () => this.preparing },
    );
  }

  /** The batcher of one text tower (texts of two towers never share a batch). */
  text(tower: TextTowerSession): DynamicBatcher<number[], Float32Array> {
    let batcher = this.#texts.get(tower.tower);
    if (!batcher) {
      const pad = this.#model.manifest.tokenizer.pad_token_id;
      batcher = new DynamicBatcher(
        async (sequences) => {
          const { inputIds, attentionMask, length } = padBatch(sequences, pad);
          return rows(
            await tower.session.runText(inputIds, attentionMask, sequences.length, length),
            sequences.length,
          );
        },
        { ...this.#batching, onBatch: this.#observe('text') },
      );
      this.#texts.set(tower.tower, batcher);
    }
    return batcher;
  }
}

export class Embedder {
  readonly models: ReadonlyMap<string, LoadedModel>;
  readonly defaultModel: string;
  #batchers = new Map<string, ModelBatchers>();
  #options: EmbedderOptions;
  #metrics: EncoderMetrics;
  #guard: UrlGuard;

  constructor(
    models: ReadonlyMap<string, LoadedModel>,
    defaultModel: string,
    options: EmbedderOptions,
    metrics: EncoderMetrics,
    guard: UrlGuard,
  ) {
    if (!models.has(defaultModel)) throw new Error(`default model ${defaultModel} is not loaded`);
    this.models = models;
    this.defaultModel = defaultModel;
    this.#options = options;
    this.#metrics = metrics;
    this.#guard = guard;
    for (const [id, model] of models) this.#batchers.set(id, new ModelBatchers(model, options, metrics));
  }

  /** The model a request asks for (404 when it is not loaded here). */
  model(id: string | undefined): LoadedModel {
    const model = this.models.get(id ?? this.defaultModel);
    if (!model) throw new EncoderError(404, 'unknown_model', `model ${id} is not loaded by this encoder`);
    return model;
  }

  #batchersOf(model: LoadedModel): ModelBatchers {
    return this.#batchers.get(model.id) as ModelBatchers;
  }

  async #bytesOf(source: ImageToEmbed): Promise<Uint8Array> {
    if (source.kind === 'bytes') return source.bytes;
    if (source.kind === 'error') throw source.error;
    const started = performance.now();
    try {
      return await fetchImage(source.url, this.#guard, this.#options.fetch);
    } finally {
      this.#metrics.fetchSeconds.observe((performance.now() - started) / 1000);
    }
  }

  /**
   * Fetches and decodes one image into the crops the model sees (one, or one per grid cell),
   * counted in `preparing` meanwhile so that the batcher knows more images are on their way.
   */
  async #prepare(
    model: LoadedModel,
    source: ImageToEmbed,
    lane: EncoderLane,
    grid?: { rows: number; cols: number },
  ) {
    const batchers = this.#batchersOf(model);
    batchers.preparing++;
    try {
      const bytes = await this.#bytesOf(source);
      const query = lane === 'query';
      const { seconds, ...prepared } = await this.#options.pool.prepare(
        {
          bytes,
          size: model.manifest.image.size,
          maxPixels: query ? this.#options.maxQueryPixels : this.#options.maxPixels,
          ...(grid ? { grid } : {}),
        },
        // Without a split, queries queue with indexing as they come.
        query && this.#options.queryLane.split ? 'query' : 'index',
      );
      this.#metrics.decodeSeconds.observe(seconds);
      return prepared;
    } finally {
      batchers.preparing--;
    }
  }

  /**
   * Embeds images; with `grid` (one image only) every cell of the grid, row-major. On the query
   * lane each image waits for one of the lane's slots first, and has the lower pixel limit.
   */
  async embedImages(
    model: LoadedModel,
    sources: readonly ImageToEmbed[],
    grid?: { rows: number; cols: number },
    lane: EncoderLane = 'index',
  ): Promise<ImageItem[]> {
    const batcher = this.#batchersOf(model).image;
    const perSource = await Promise.all(
      sources.map(async (source, index): Promise<ImageItem[]> => {
        const free = lane === 'query' ? await this.#options.queryLane.slot() : () => {};
        try {
          const { crops, ...info } = await this.#prepare(model, source, lane, grid);
          const embeddings = await Promise.all(crops.map((crop) => batcher.submit(crop)));
          return embeddings.map(
            (e, cell): EmbeddedImage => ({
              index: grid ? cell : index,
              embedding: Array.from(e),
              sha256: info.sha256,
              width: info.width,
              height: info.height,
            }),
          );
        } catch (error) {
          if (!(error instanceof EncoderError)) throw error;
          this.#metrics.errors.inc({ code: error.code });
          return [{ index, error: { code: error.code, message: error.message }, status: error.status }];
        } finally {
          free();
        }
      }),
    );
    return perSource.flat();
  }

  /**
   * Embeds texts with the text tower of `variant` (the model's default tower when absent; another
   * the package ships is loaded on first use, one it lacks is 400 `unknown_variant`), and says
   * which tower that was.
   */
  async embedTexts(
    model: LoadedModel,
    texts: readonly string[],
    variant: TextVariant = model.textVariant,
  ): Promise<{ tower: TextTowerSession; data: TextItem[] }> {
    const tower = await model.textTowerOf(variant);
    const batcher = this.#batchersOf(model).text(tower);
    const data = await Promise.all(
      texts.map(async (text, index): Promise<TextItem> => {
        const { ids, truncated } = model.tokenizer.encode(text);
        const embedding = Array.from(await batcher.submit(ids));
        return truncated ? { index, embedding, truncated: true as const } : { index, embedding };
      }),
    );
    return { tower, data };
  }
}
