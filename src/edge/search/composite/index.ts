/**
 * Composite queries of POST /v1/search: "like this image, but blue", "red circles, not large
 * ones", several phrasings of one thing averaged. A request gives `positive` parts (texts and
 * images, each with a weight) and optionally `negative` texts; this module checks them (beyond
 * the schema: not mixed with a single query, images decoded and checked like any query image),
 * embeds every part through the query paths every search uses (texts through the text embedder
 * and its caches, images through ../../query/image.ts: stored vectors for indexed ids, the
 * encoder for URLs and bytes) and combines them into one query vector (./combine.ts). The search
 * itself is the ordinary one (../search.ts runSearch): filters, `min_score`, `k`, cursors,
 * collections and search shards apply as to any query.
 *
 * What a composite costs: one text-tower run for its texts (cached per text like any query text,
 * the empty text included), and one encoder call per `image_url` / `image_base64` part, charged
 * like a search by image (at most LIMITS.compositeEncoderImages of them).
 *
 * The cursor is bound to the whole composite (formula, every part in order with its weight, the
 * negatives), so a cursor of any other query is 400 `invalid_cursor`. Indexed images are named by
 * id only (the collection is in the cursor already), so a write to the index makes the cursor
 * `409 cursor_stale` like a text query's.
 */
import type { CompositePartAnswer, SearchBody, SearchResponse } from '../../../core/contract/api-schemas';
import { ApiError } from '../../http/errors';
import { guardIndex, type QueryContext } from '../../query/context';
import { embedQueryImage, type QueryImage, queryImageFrom } from '../../query/image';
import { embedQueryTexts } from '../../query/text-embedder';
import { COMPOSITE_FORMULA, combineParts, NEGATIVE_SCALE, NULL_TEXT, TEXT_SCALE } from './combine';

export {
  COMPOSITE_FORMULA,
  combineParts,
  NEGATIVE_SCALE,
  NULL_TEXT,
  TEXT_SCALE,
  textDirection,
} from './combine';

export type CompositePart =
  | { kind: 'text'; text: string; weight: number }
  | { kind: 'image'; image: QueryImage; weight: number };

export interface CompositeQuery {
  positive: CompositePart[];
  negative: { text: string; weight: number }[];
}

/** The search fields a composite may not be mixed with, and its own. */
interface CompositeFields {
  positive?: SearchBody['positive'];
  negative?: SearchBody['negative'];
  text?: string | undefined;
  q?: string | undefined;
  image_id?: string | undefined;
  image_url?: string | undefined;
  image_base64?: string | undefined;
  image?: File | undefined;
}

/** The part's own errors name it: `positive.2: image_base64: not valid base64`. */
async function partImage(part: NonNullable<SearchBody['positive']>[number], i: number): Promise<QueryImage> {
  try {
    return (await queryImageFrom(part, undefined)) as QueryImage;
  } catch (error) {
    if (error instanceof ApiError)
      throw new ApiError(error.status, error.code, `positive.${i}: ${error.message}`, { cause: error });
    throw error;
  }
}

/**
 * The composite query of a request, or undefined when it has none (`positive` and `negative`
 * absent). 400 `invalid_request` when it also names a single query or gives negatives only; a
 * part's image is decoded and checked here (size, format), before anything is charged or embedded.
 */
export async function compositeFrom(fields: CompositeFields): Promise<CompositeQuery | undefined> {
  if (fields.positive === undefined && fields.negative === undefined) return undefined;
  if (fields.positive === undefined) {
    throw new ApiError(400, 'invalid_request', 'negative: give positive parts too (what to search for)');
  }
  const single = (['text', 'q', 'image_id', 'image_url', 'image_base64', 'image'] as const).filter(
    (f) => fields[f] !== undefined,
  );
  if (single.length > 0) {
    throw new ApiError(
      400,
      'invalid_request',
      `give either positive (and negative) parts or a single query, not both (${single.join(', ')}); ` +
        'a text or image belongs in positive as a part',
    );
  }
  const positive: CompositePart[] = [];
  for (const [i, part] of fields.positive.entries()) {
    positive.push(
      part.text !== undefined
        ? { kind: 'text', text: part.text, weight: part.weight }
        : { kind: 'image', image: await partImage(part, i), weight: part.weight },
    );
  }
  return { positive, negative: (fields.negative ?? []).map((n) => ({ text: n.text, weight: n.weight })) };
}

/** Encoder calls the composite makes (its `image_url` and `image_base64` parts): the units to charge. */
export function encoderCalls(query: CompositeQuery): number {
  return query.positive.filter((p) => p.kind === 'image' && p.image.kind !== 'image_id').length;
}

export interface EmbeddedComposite {
  vector: Float32Array;
  /** The query's identity for its cursor. */
  identity: string;
  /** The answer's `query`. */
  description: SearchResponse['query'];
  /** Indexed images among the parts: never answered (as a search by image_id leaves its image out). */
  exclude: Set<string>;
}

function describeImage(image: QueryImage, sha256: string | undefined) {
  if (image.kind === 'image_id') return { kind: image.kind, id: image.id };
  if (image.kind === 'image_url') return { kind: image.kind, url: image.url };
  return { kind: image.kind, ...(sha256 ? { sha256 } : {}) };
}

/** Embeds every part (texts in one tower call, images at once) and combines them (./combine.ts). */
export async function embedComposite(ctx: QueryContext, query: CompositeQuery): Promise<EmbeddedComposite> {
  const { model, store } = ctx;
  const texts = [
    ...new Set([
      ...query.positive.flatMap((p) => (p.kind === 'text' ? [p.text] : [])),
      ...query.negative.map((n) => n.text),
      NULL_TEXT,
    ]),
  ];
  const [embedded, images] = await Promise.all([
    embedQueryTexts(ctx.env, model, texts),
    guardIndex(() =>
      Promise.all(
        query.positive.map((p) =>
          p.kind === 'image'
            ? embedQueryImage(p.image, { store, model: model.space, encoder: ctx.encoder })
            : undefined,
        ),
      ),
    ),
  ]);
  const textAt = (text: string) => texts.indexOf(text);
  const vectorOf = (text: string) => embedded.embeddings[textAt(text)] as Float32Array;
  const truncatedOf = (text: string) => embedded.truncated[textAt(text)] ?? false;
  const vector = combineParts({
    positive: query.positive.map((p, i) => ({
      kind: p.kind,
      vector: p.kind === 'text' ? vectorOf(p.text) : (images[i]?.vector as Float32Array),
      weight: p.weight,
    })),
    negative: query.negative.map((n) => ({ vector: vectorOf(n.text), weight: n.weight })),
    nullText: vectorOf(NULL_TEXT),
  });
  if (!vector) {
    throw new ApiError(
      400,
      'invalid_request',
      'positive: the parts cancel each other out; change their weights',
    );
  }
  const positive: CompositePartAnswer[] = query.positive.map((p, i) =>
    p.kind === 'text'
      ? { kind: 'text', text: p.text, weight: p.weight, truncated: truncatedOf(p.text) }
      : { ...describeImage(p.image, images[i]?.sha256), weight: p.weight },
  );
  const negative: CompositePartAnswer[] = query.negative.map((n) => ({
    kind: 'text',
    text: n.text,
    weight: n.weight,
    truncated: truncatedOf(n.text),
  }));
  const formula = { name: COMPOSITE_FORMULA, text_scale: TEXT_SCALE, negative_scale: NEGATIVE_SCALE };
  const identity = `composite:${JSON.stringify({
    formula,
    positive: query.positive.map((p, i) => [
      p.kind === 'text' ? `text:${p.text}` : partIdentity(p.image, images[i]?.identity),
      p.weight,
    ]),
    negative: query.negative.map((n) => [n.text, n.weight]),
  })}`;
  return {
    vector,
    identity,
    description: {
      kind: 'composite',
      truncated: [...positive, ...negative].some((p) => p.truncated === true),
      formula,
      positive,
      negative,
    },
    exclude: new Set(
      query.positive.flatMap((p) => (p.kind === 'image' && p.image.kind === 'image_id' ? [p.image.id] : [])),
    ),
  };
}

/** An image part in the cursor: an indexed id without the index generation (a write is `cursor_stale`). */
function partIdentity(image: QueryImage, embeddedIdentity: string | undefined): string {
  return image.kind === 'image_id' ? `id:${image.id}` : (embeddedIdentity as string);
}
