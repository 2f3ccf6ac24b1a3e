/**
 * The encoder function's HTTP API, the one contract the Worker and the encoder share
 * (docs/encoder-contract.md says it in prose): its paths, the requests the Worker sends (query
 * parameters, JSON bodies, the multipart field), every answer body, and the limits both sides
 * must agree on. The encoder parses its requests and types its answers with these schemas, the
 * Worker builds its requests with these types and parses the answers with these schemas, so a
 * change on one side that the other does not follow fails the type check or the tests.
 * Plain zod: runtime-free.
 */
import { z } from 'zod';
import { ErrorEnvelopeSchema } from './errors';
import { Sha256HexSchema } from './ids';
import { EMBEDDING_LIMITS, LIMITS } from './limits';

export const ENCODER_PATHS = {
  image: '/v1/embed/image',
  text: '/v1/embed/text',
  health: '/healthz',
  metrics: '/metrics',
} as const;

/**
 * Headers the Worker sends with every call: the request id (the encoder logs it, and answers it
 * back), the lane of an image request and, on the query lane, who asked.
 * - `X-Encoder-Lane: query | index`: query images (search by image, score, patches) get their
 *   own share of the encoder (ENCODER_QUERY_SLOTS images at once) and the lower pixel limit
 *   (PIXEL_LIMITS.query); indexing (the queue consumer) is never queued behind them. Absent:
 *   `index` (what callers before lanes expected).
 * - `X-Encoder-Client`: the caller a query counts against (`key:<id>` or `ip:<address>`); more
 *   than ENCODER_QUERY_PER_CLIENT query requests of one client at once answer 429 `rate_limited`
 *   with `Retry-After`.
 */
export const ENCODER_HEADERS = {
  requestId: 'X-Request-Id',
  lane: 'X-Encoder-Lane',
  client: 'X-Encoder-Client',
} as const;

export const EncoderLaneSchema = z.enum(['query', 'index']);
export type EncoderLane = z.infer<typeof EncoderLaneSchema>;

/** Characters of an `X-Encoder-Client` value (longer ones are cut). */
export const ENCODER_CLIENT_CHARS = 200;

/** The multipart field of each image in a POST /v1/embed/image batch. */
export const IMAGE_PART = 'image';

/**
 * The encoder's default limits per request (its ENCODER_MAX_* variables). The Worker never sends
 * more than these, so a host may raise them but must not lower them.
 */
export const ENCODER_LIMITS = {
  /** Bytes of one request body (ENCODER_MAX_BODY_BYTES): the Worker splits batches below it. */
  bodyBytes: 64 * 1024 * 1024,
  /** Images in one POST /v1/embed/image (ENCODER_MAX_IMAGES). */
  images: 64,
  /** Texts in one POST /v1/embed/text (ENCODER_MAX_TEXTS). */
  texts: 256,
  /**
   * Characters of one text (ENCODER_MAX_TEXT_CHARS): the longest the Worker sends, a
   * /v1/embeddings input (a caption in a prompt template is at most twice LIMITS.textChars).
   */
  textChars: Math.max(EMBEDDING_LIMITS.textChars, 2 * LIMITS.textChars),
  /** Characters of one URL of `{ urls }`. */
  urlChars: 8192,
  /** Rows and columns of `?grid=RxC`. */
  gridSide: 8,
} as const;

/**
 * The bearer token's syntax (RFC 6750's token68, what Hono's bearer-auth accepts): a token with
 * other characters could never be presented.
 */
export const BEARER_TOKEN_PATTERN = /^[A-Za-z0-9._~+/-]+=*$/;

/** A grid of rows x cols cells laid over one image (Text->Patch). */
export interface Grid {
  rows: number;
  cols: number;
}

const GRID_PATTERN = new RegExp(`^([1-${ENCODER_LIMITS.gridSide}])x([1-${ENCODER_LIMITS.gridSide}])$`);

/** `?grid=RxC` as the encoder reads it. */
export const GridParamSchema = z
  .string()
  .regex(GRID_PATTERN, `grid must be RxC with 1..${ENCODER_LIMITS.gridSide} rows and columns, e.g. 3x3`)
  .transform((g): Grid => {
    const [rows, cols] = g.split('x').map(Number) as [number, number];
    return { rows, cols };
  });

/** `?grid=RxC` as the Worker writes it. */
export const gridParam = (grid: Grid): string => `${grid.rows}x${grid.cols}`;

/**
 * The query of POST /v1/embed/image: `?model=` (the encoder's default when absent; an id it does
 * not serve is 404 `unknown_model`) and `?grid=RxC`.
 */
export const ImageQuerySchema = z.object({
  model: z.string().optional(),
  grid: GridParamSchema.optional(),
});
export type ImageQuery = z.input<typeof ImageQuerySchema>;

/** The JSON body of POST /v1/embed/image: URLs the encoder fetches (its count is checked apart). */
export const UrlsRequestSchema = z
  .object({ urls: z.array(z.string().max(ENCODER_LIMITS.urlChars)).min(1) })
  .strict();
export type UrlsRequest = z.infer<typeof UrlsRequestSchema>;

/** The JSON body of POST /v1/embed/text, within a host's limits (the defaults unless given). */
export function textRequestSchema(limits: { texts: number; textChars: number } = ENCODER_LIMITS) {
  return z
    .object({
      texts: z
        .array(z.string().max(limits.textChars, `at most ${limits.textChars} characters`))
        .min(1)
        .max(limits.texts),
    })
    .strict();
}
export type TextRequest = z.infer<ReturnType<typeof textRequestSchema>>;

/** The error envelope: a whole answer's error, and (its inner object) an item's. */
export const ErrorAnswerSchema = ErrorEnvelopeSchema;
export type ErrorAnswer = z.infer<typeof ErrorAnswerSchema>;
export const ItemErrorSchema = ErrorEnvelopeSchema.shape.error;
export type ItemError = z.infer<typeof ItemErrorSchema>;

const Index = z.number().int().nonnegative();
const Embedding = z.array(z.number().finite());

/** An embedded image (or grid cell): the vector, and the sha256 and size of the image's bytes. */
export const EmbeddedImageSchema = z.object({
  index: Index,
  embedding: Embedding,
  sha256: Sha256HexSchema,
  width: z.number().int().positive(),
  height: z.number().int().positive(),
});
export type EmbeddedImage = z.infer<typeof EmbeddedImageSchema>;

/** An image of a batch that could not be embedded, with the code it would answer alone. */
export const FailedImageSchema = z.object({ index: Index, error: ItemErrorSchema });
export type FailedImage = z.infer<typeof FailedImageSchema>;

export const ImageItemSchema = z.union([EmbeddedImageSchema, FailedImageSchema]);
export type ImageItem = z.infer<typeof ImageItemSchema>;

export const TextItemSchema = z.object({
  index: Index,
  embedding: Embedding,
  /** Present (true) on a text that was cut to the model's max length. */
  truncated: z.literal(true).optional(),
});
export type TextItem = z.infer<typeof TextItemSchema>;

/** Every answer names the embedding space it comes from: the Worker refuses any other. */
const answerOf = <T extends z.ZodType>(item: T) =>
  z.object({
    model: z.string().min(1),
    version: z.string().min(1),
    dim: z.number().int().positive(),
    data: z.array(item),
  });

/** 200 of POST /v1/embed/image: an item per image in request order (indices 0..n-1). */
export const ImageAnswerSchema = answerOf(ImageItemSchema);
export type ImageAnswer = z.infer<typeof ImageAnswerSchema>;

/**
 * 200 of POST /v1/embed/image?grid=RxC: R*C cells in row-major order, each with the sha256 and
 * size of the one image (a failing image is an ErrorAnswer, never a failed cell).
 */
export const GridAnswerSchema = answerOf(EmbeddedImageSchema);
export type GridAnswer = z.infer<typeof GridAnswerSchema>;

/** A text tower's variant: which of the package's text files the encoder runs. */
export const TextVariantSchema = z.enum(['fp32', 'int8']);

/**
 * The query of POST /v1/embed/text: `?model=` as for images, and `?text_variant=fp32|int8`, the
 * text tower to run for this request. Absent: the tower the encoder runs by default
 * (ENCODER_TEXT_VARIANT, else the manifest's `default_variant`). Another variant of the package is
 * loaded on first use and kept (docs/encoder-contract.md); one the package lacks is 400
 * `unknown_variant`, a value that is no variant 400 `bad_request`. The answer names the tower
 * that ran (`text_variant`, `text_tower`), so a Worker can tell an encoder that ignored the
 * parameter (one older than it) from one that ran it.
 */
export const TextQuerySchema = ImageQuerySchema.pick({ model: true }).extend({
  text_variant: TextVariantSchema.optional(),
});
export type TextQuery = z.input<typeof TextQuerySchema>;

/**
 * The text tower an answer comes from: its variant and its identity, computed as
 * core/manifest.ts `textTowerIdentity` computes it (`<id>@<version>#<sha256 prefix of the tower's
 * files>:<variant>`). The Worker keys cached query embeddings and caption scores by it, so that
 * another tower under the same version is never answered with this one's numbers.
 */
const textTower = {
  text_variant: TextVariantSchema,
  text_tower: z.string().min(1),
};

/** Whether `text_tower` is a tower of the answer's model and version, in its `text_variant`. */
const namesItsTower = (a: { model: string; version: string; text_variant: string; text_tower: string }) =>
  a.text_tower.startsWith(`${a.model}@${a.version}#`) && a.text_tower.endsWith(`:${a.text_variant}`);
const TOWER_MISMATCH = {
  message: 'text_tower must be <model>@<version>#<files>:<text_variant> of the same answer',
  path: ['text_tower'],
};

/** 200 of POST /v1/embed/text: an item per text in request order, and the tower that made them. */
export const TextAnswerSchema = answerOf(TextItemSchema)
  .extend(textTower)
  .refine(namesItsTower, TOWER_MISMATCH);
export type TextAnswer = z.infer<typeof TextAnswerSchema>;

/**
 * GET /healthz: the models the encoder serves and how it runs them (the Worker reads `provider`,
 * and each model's `text_tower` to know which tower answers before it asks for embeddings).
 */
export const HealthAnswerSchema = z.object({
  status: z.literal('ok'),
  models: z.array(
    z
      .object({
        id: z.string(),
        version: z.string(),
        dim: z.number().int().positive(),
        image_variant: z.enum(['fp32', 'fp16']),
        ...textTower,
        default: z.boolean(),
      })
      .refine((m) => namesItsTower({ model: m.id, ...m }), TOWER_MISMATCH),
  ),
  provider: z.string(),
  provider_requested: z.string(),
  provider_fallback_reason: z.string().optional(),
  onnxruntime: z.string(),
  batch: z.object({ max_size: z.number().int(), max_wait_ms: z.number() }),
  runners: z.object({
    count: z.number().int(),
    intra_op_threads: z.number().int(),
    decode_threads: z.number().int(),
  }),
  uptime_s: z.number(),
});
export type HealthAnswer = z.infer<typeof HealthAnswerSchema>;

/**
 * Every code a failed item of a 200 batch answer may carry, with the status the encoder answers
 * when that image is the request's only one (the Worker reads an item's status from here).
 */
export const ITEM_ERROR_STATUS: Readonly<Record<string, number>> = {
  empty_image: 400,
  bad_url: 400,
  url_refused: 403,
  image_too_large: 413,
  too_many_pixels: 413,
  not_an_image: 422,
  truncated_image: 422,
  corrupt_image: 422,
  unsupported_format: 422,
  internal_error: 500,
  fetch_failed: 502,
  upstream_status: 502,
  too_many_redirects: 502,
  fetch_timeout: 504,
};

/**
 * The codes the encoder answers (502 or 504) when an image URL a caller gave could not be fetched:
 * no address, a refused connection, an HTTP error status from that host, too many redirects, or
 * its host too slow. The caller's mistake, not the service failing: the Worker answers them as 422
 * `image_fetch_failed` with the reason, and keeps 502/504 for the encoder's own faults.
 */
export const URL_FETCH_FAILURE_CODES: readonly string[] = [
  'fetch_failed',
  'upstream_status',
  'too_many_redirects',
  'fetch_timeout',
];

/** The status of a failed item's code (422, about the image, for a code this table lacks). */
export const itemErrorStatus = (code: string): number => ITEM_ERROR_STATUS[code] ?? 422;
