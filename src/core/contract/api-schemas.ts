/**
 * Request and response schemas of the image-facing API (search, score, patches) and of /healthz,
 * shared by the Worker's routes, the OpenAPI document and clients (the demo page imports their
 * types). Plain zod: runtime-free. Ids and limits come from ./ids and ./limits.
 */
import { z } from 'zod';
import { CollectionSchema, ImageIdSchema, ModelIdSchema } from './ids';
import { LIMITS } from './limits';
import {
  FILTER_OPERATORS,
  filterFieldProblem,
  isoDateMs,
  type MetadataFilter,
  withCheckedKeys,
} from './metadata-filter';

export const ImageUrlSchema = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .max(LIMITS.urlChars);

/**
 * The image of a search, score or patches request given inside a JSON body (or a form field), as
 * OpenAI's vision API takes it: `image_url` may be a `data:image/<type>;base64,<data>` URL as well
 * as an http(s) URL, and `image_base64` takes the bare base64 of the file. Both are decoded and
 * checked like an upload (size, format) by the Worker; the body limit bounds their length.
 */
export const QueryImageUrlSchema = z
  .string()
  .max(LIMITS.bodyBytes)
  .superRefine((v, ctx) => {
    if (v.startsWith('data:')) return;
    if (v.length > LIMITS.urlChars) {
      ctx.addIssue({ code: 'custom', message: `an http(s) URL of at most ${LIMITS.urlChars} characters` });
    } else if (!ImageUrlSchema.safeParse(v).success) {
      ctx.addIssue({ code: 'custom', message: 'must be an http(s) URL or a data:image/...;base64, URL' });
    }
  });

/** Bare base64 of an image file (standard alphabet, padding optional, whitespace ignored). */
export const ImageBase64Schema = z.string().max(LIMITS.bodyBytes);

export const QueryTextSchema = z
  .string()
  .max(LIMITS.textChars, `at most ${LIMITS.textChars} characters`)
  .refine((s) => s.trim().length > 0, 'must not be blank');

const FilterScalar = z.union([z.string().max(256), z.number().finite(), z.boolean(), z.null()]);

/** Why a filter clause is refused, or undefined when it is valid (see src/edge/search/filter.ts). */
function filterClauseProblem(clause: unknown): string | undefined {
  const scalar = (v: unknown) => FilterScalar.safeParse(v).success;
  const list = (op: string, v: unknown) =>
    !Array.isArray(v) || v.length === 0 || v.length > LIMITS.filterValues || !v.every(scalar)
      ? `${op} needs a list of 1 to ${LIMITS.filterValues} strings, numbers, booleans or nulls`
      : undefined;
  if (Array.isArray(clause)) return list('a list', clause);
  if (clause === null || typeof clause !== 'object') {
    return scalar(clause) ? undefined : 'must be a string (at most 256 characters), number, boolean or null';
  }
  const entries = Object.entries(clause);
  if (entries.length === 0) return `needs at least one operator of ${FILTER_OPERATORS.join(' ')}`;
  for (const [op, operand] of entries) {
    if (op === '$eq' || op === '$ne') {
      if (!scalar(operand)) return `${op} needs a string, number, boolean or null`;
    } else if (op === '$in' || op === '$nin') {
      const problem = list(op, operand);
      if (problem) return problem;
    } else if ((FILTER_OPERATORS as readonly string[]).includes(op)) {
      const ok =
        (typeof operand === 'number' && Number.isFinite(operand)) ||
        (typeof operand === 'string' && !Number.isNaN(isoDateMs(operand)));
      if (!ok) return `${op} needs a number or an ISO date`;
    } else {
      return `unknown operator ${JSON.stringify(op).slice(0, 40)}: use ${FILTER_OPERATORS.join(' ')}`;
    }
  }
  return undefined;
}

/**
 * Metadata filter in Vectorize's vocabulary: `{ "colour": "red" }` ($eq), a list means any of
 * (`{ "count": [2, 3] }`), or operators `$eq $ne $in $nin $lt $lte $gt $gte` on numbers, strings and
 * ISO dates (`{ "year": { "$gte": 2000 }, "taken": { "$lt": "2024-06-01" } }`). A bad clause is a
 * 400 naming its field: `filter.year: $gt needs a number or an ISO date`.
 */
const FilterFieldsSchema = z
  .record(z.string().min(1).max(64), z.unknown())
  .superRefine((filter, ctx) => {
    const fields = Object.keys(filter);
    if (fields.length > LIMITS.filterFields) {
      ctx.addIssue({ code: 'custom', message: `at most ${LIMITS.filterFields} filter fields` });
    }
    for (const field of fields.slice(0, LIMITS.filterFields)) {
      const message = filterClauseProblem(filter[field]);
      if (message) ctx.addIssue({ code: 'custom', path: [field], message });
    }
  })
  .transform((filter) => filter as MetadataFilter);
export const MetadataFilterSchema = withCheckedKeys(FilterFieldsSchema, filterFieldProblem);

/** A JSON-encoded value in a query string or form field (e.g. `filter={"colour":"red"}`). */
export function jsonText<T extends z.ZodType>(schema: T) {
  return z.preprocess((value, ctx) => {
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be valid JSON' });
      return z.NEVER;
    }
  }, schema);
}

/** Numbers arrive as strings in query strings and forms. */
const numeric = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v), schema);

/** Booleans arrive as `true`/`false` (or 1/0) in query strings and forms. */
const booleanish = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), schema);

export const SearchFieldsSchema = z.object({
  text: QueryTextSchema.optional(),
  image_id: ImageIdSchema.optional(),
  image_url: QueryImageUrlSchema.optional(),
  image_base64: ImageBase64Schema.optional(),
  k: numeric(z.number().int().min(1).max(LIMITS.k)).default(10),
  min_score: numeric(z.number().min(-1).max(1)).optional(),
  filter: jsonText(MetadataFilterSchema).optional(),
  cursor: z.string().min(1).max(512).optional(),
  /** When a search shard does not answer: a page marked `partial` instead of 503 `shards_unavailable`. */
  allow_partial: booleanish(z.boolean()).optional(),
  model: ModelIdSchema.optional(),
  collection: CollectionSchema.optional(),
});
export type SearchFields = z.infer<typeof SearchFieldsSchema>;

const CompositeWeightSchema = z
  .number()
  .gt(0, 'must be more than 0')
  .max(LIMITS.compositeWeight, `must be at most ${LIMITS.compositeWeight}`)
  .default(1)
  .describe(`How much the part counts, more than 0 and at most ${LIMITS.compositeWeight}`);

/** The fields of a composite part that name what it is (exactly one per part). */
const PART_SOURCES = ['text', 'image_id', 'image_url', 'image_base64'] as const;

/**
 * One positive part of a composite search: a text or an image (indexed id, URL, data: URL or bare
 * base64, as a search by image takes it) and its weight (default 1). How the parts are combined:
 * src/edge/search/composite/combine.ts and docs/image-api.md, "Composite queries".
 */
export const CompositePartSchema = z
  .strictObject({
    text: QueryTextSchema.optional(),
    image_id: ImageIdSchema.optional(),
    image_url: QueryImageUrlSchema.optional(),
    image_base64: ImageBase64Schema.optional(),
    weight: CompositeWeightSchema,
  })
  .superRefine((part, ctx) => {
    const given = PART_SOURCES.filter((f) => part[f] !== undefined).length;
    if (given !== 1)
      ctx.addIssue({
        code: 'custom',
        message: 'give exactly one of text, image_id, image_url or image_base64',
      });
  });

/** A negative part: a text the results should move away from, and its weight (default 1). */
export const CompositeNegativeSchema = z.strictObject({
  text: QueryTextSchema,
  weight: CompositeWeightSchema,
});

/**
 * POST /v1/search's JSON body: a single query (SearchFieldsSchema), or a composite one, `positive`
 * parts (texts and images) and `negative` texts combined in embedding space. At most
 * LIMITS.compositeEncoderImages parts may need the encoder (`image_url`, `image_base64`).
 */
export const SearchBodySchema = SearchFieldsSchema.extend({
  positive: z
    .array(CompositePartSchema)
    .min(1, 'give at least one positive part')
    .max(LIMITS.compositeParts, `at most ${LIMITS.compositeParts} positive parts`)
    .superRefine((parts, ctx) => {
      const encoded = parts.filter((p) => p.image_url !== undefined || p.image_base64 !== undefined).length;
      if (encoded > LIMITS.compositeEncoderImages) {
        ctx.addIssue({
          code: 'custom',
          message:
            `at most ${LIMITS.compositeEncoderImages} parts may be image_url or image_base64 (each is an encoder ` +
            `call); image_id parts cost none, got ${encoded}`,
        });
      }
    })
    .optional(),
  negative: z
    .array(CompositeNegativeSchema)
    .min(1, 'give at least one negative text, or leave negative out')
    .max(LIMITS.compositeNegatives, `at most ${LIMITS.compositeNegatives} negative texts`)
    .optional(),
});
export type SearchBody = z.infer<typeof SearchBodySchema>;

export const SearchHitSchema = z.object({
  id: z.string(),
  score: z.number(),
  metadata: z.record(z.string(), z.unknown()),
  caption: z.string().optional(),
});

export type SearchHit = z.infer<typeof SearchHitSchema>;

/** How a composite query was combined (src/edge/search/composite/combine.ts). */
export const CompositeFormulaSchema = z
  .object({
    name: z.literal('centred-sum'),
    text_scale: z.number().describe('What a text part counts against an image part of the same weight'),
    negative_scale: z
      .number()
      .describe('How far a negative text of weight 1 moves the (unit) query away from its direction'),
  })
  .describe(
    'q = normalise(normalise(sum_i w_i u_i) - negative_scale * sum_j v_j d(n_j)), where u is an image embedding or ' +
      'text_scale * d(text), and d(t) = normalise(e(t) - e("")) (docs/image-api.md, "Composite queries")',
  );
export type CompositeFormula = z.infer<typeof CompositeFormulaSchema>;

/** One part of a composite query as the answer reports it (images by id, URL or sha256, never bytes). */
export const CompositePartAnswerSchema = z.object({
  kind: z.enum(['text', 'image_id', 'image_url', 'image']),
  weight: z.number(),
  text: z.string().optional(),
  truncated: z.boolean().optional(),
  id: z.string().optional(),
  url: z.string().optional(),
  sha256: z.string().optional(),
});
export type CompositePartAnswer = z.infer<typeof CompositePartAnswerSchema>;

export const SearchResponseSchema = z.object({
  object: z.literal('search_results'),
  model: z.string(),
  version: z.string(),
  query: z.object({
    kind: z.enum(['text', 'image_id', 'image_url', 'image', 'composite']),
    truncated: z.boolean().optional(),
    /** Composite queries only: the formula and its constants, and every part as it was used. */
    formula: CompositeFormulaSchema.optional(),
    positive: z.array(CompositePartAnswerSchema).optional(),
    negative: z.array(CompositePartAnswerSchema).optional(),
  }),
  results: z.array(SearchHitSchema),
  next_cursor: z.string().nullable(),
  /**
   * Only on a partial page (the request said `allow_partial` and a search shard did not answer):
   * the shards missing and the share of the index's rows they hold. Such a page has no cursor.
   */
  partial: z.object({ missing_shards: z.number().int(), missing_share: z.number() }).optional(),
});
export type SearchResponse = z.infer<typeof SearchResponseSchema>;

/** A list of captions: in a JSON body a JSON array (a bare string is refused, not wrapped). */
export const CaptionsSchema = z
  .array(QueryTextSchema)
  .min(1, 'give at least one caption')
  .max(LIMITS.captions, `at most ${LIMITS.captions} captions`);

/** The captions of a form, where every field is text: repeated fields, one field, or one JSON-array field. */
export const CaptionsFormSchema = z.preprocess(
  (v) => (typeof v === 'string' ? (v.trim().startsWith('[') ? safeJson(v) : [v]) : v),
  CaptionsSchema,
);

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export const PromptTemplateSchema = z
  .string()
  .max(LIMITS.textChars)
  .refine((t) => t.split('{}').length === 2, 'must contain exactly one {} placeholder');

/**
 * Which text tower embeds a score's captions: `fp32` gives the reference forward pass's numbers
 * (the original KoCLIP's Quickstart), `int8` the faster quantised tower's. Default: `fp32` for a
 * model whose text tower is on the encoder function, the edge's own tower (the manifest's default,
 * int8) for an `edge` model (docs/image-api.md, "Which numbers match the reference").
 */
export const TextVariantFieldSchema = z
  .enum(['fp32', 'int8'])
  .describe(
    "Text tower that embeds the captions: `fp32` (the reference forward pass's probabilities, within " +
      "1e-3) or `int8` (faster; about 1e-2 from them at logit scale 100, as the model's " +
      '`evaluation.score_vs_reference` records). Default: `fp32` for models whose text tower runs on the ' +
      "encoder function, the edge's own (int8) tower for `edge` models. A variant the model does not " +
      'ship is `400 unknown_variant`.',
  );

export const ScoreFieldsSchema = z.object({
  image_id: ImageIdSchema.optional(),
  image_url: QueryImageUrlSchema.optional(),
  image_base64: ImageBase64Schema.optional(),
  captions: CaptionsSchema,
  prompt_template: PromptTemplateSchema.optional(),
  text_variant: TextVariantFieldSchema.optional(),
  model: ModelIdSchema.optional(),
  collection: CollectionSchema.optional(),
});
export type ScoreFields = z.infer<typeof ScoreFieldsSchema>;

export const ScoreResponseSchema = z.object({
  object: z.literal('caption_scores'),
  model: z.string(),
  version: z.string(),
  image: z.object({
    kind: z.enum(['image_id', 'image_url', 'image']),
    id: z.string().optional(),
    sha256: z.string().optional(),
  }),
  prompt_template: z.string().nullable(),
  logit_scale: z.number(),
  text_variant: z.enum(['fp32', 'int8']).describe('The text tower variant that embedded the captions'),
  text_tower: z.string().describe('That tower: `<model>@<version>#<sha256 prefix of its files>:<variant>`'),
  results: z.array(
    z.object({
      caption: z.string(),
      text: z.string(),
      logit: z.number(),
      prob: z.number(),
      truncated: z.boolean(),
    }),
  ),
  probs: z.array(z.number()),
  logits: z.array(z.number()),
  best: z.number().int(),
});
export type ScoreResponse = z.infer<typeof ScoreResponseSchema>;

export const GridSideSchema = numeric(z.number().int().min(1).max(LIMITS.gridSide));

export const PatchesFieldsSchema = z.object({
  image_id: ImageIdSchema.optional(),
  image_url: QueryImageUrlSchema.optional(),
  image_base64: ImageBase64Schema.optional(),
  text: QueryTextSchema,
  rows: GridSideSchema.default(3),
  cols: GridSideSchema.default(3),
  prompt_template: PromptTemplateSchema.optional(),
  model: ModelIdSchema.optional(),
  collection: CollectionSchema.optional(),
});
export type PatchesFields = z.infer<typeof PatchesFieldsSchema>;

export const PatchesResponseSchema = z.object({
  object: z.literal('patch_scores'),
  model: z.string(),
  version: z.string(),
  text: z.string(),
  truncated: z.boolean(),
  rows: z.number().int(),
  cols: z.number().int(),
  /** rows x cols cosine similarities, row-major. */
  scores: z.array(z.array(z.number())),
  /** Softmax over all cells of exp(logit_scale) * cosine. */
  probs: z.array(z.array(z.number())),
  best: z.object({ row: z.number().int(), col: z.number().int(), score: z.number() }),
});
export type PatchesResponse = z.infer<typeof PatchesResponseSchema>;

/** The text tower's runtime figures in the isolate (/healthz, /debug/text-tower). */
export const TextTowerStatsSchema = z.object({
  sessions: z.array(z.string()),
  runs: z.number().int(),
  wasm_memory_bytes: z.number().int(),
});

/** What the Worker saw of the encoder function's own /healthz. */
export const EncoderHealthSchema = z
  .object({
    status: z.enum(['ok', 'unreachable', 'error', 'not_configured']),
    latency_ms: z.number().optional(),
    provider: z.string().optional(),
    message: z.string().optional(),
  })
  .describe(
    "The encoder function's own /healthz: `ok`, `unreachable` (network failure or no answer within 2 s), " +
      '`error` (it answered with a failure) or `not_configured` (no ENCODER_URL / ENCODER_TOKEN).',
  );
export type EncoderHealth = z.infer<typeof EncoderHealthSchema>;

/** GET /healthz */
export const HealthResponseSchema = z.object({
  status: z.literal('ok'),
  default_model: z.object({
    id: z.string(),
    version: z.string(),
    placement: z.enum(['edge', 'function']),
    evaluation: z
      .record(z.string(), z.number())
      .describe("The int8 text tower's figures measured at export time"),
  }),
  text_tower: TextTowerStatsSchema,
  encoder: EncoderHealthSchema,
});
export type HealthResponse = z.infer<typeof HealthResponseSchema>;
