/**
 * The arithmetic of a composite query, in embedding space, pure (no bindings): the Worker, the
 * tests and `npm run bench:composite` all combine through `combineParts`.
 *
 *   d(t) = normalise(e(t) - e(""))                 a text's direction: what its words add
 *   u_i  = e(image_i)        for an image part
 *          TEXT_SCALE * d(t_i) for a text part
 *   p    = normalise(sum_i w_i * u_i)               the positive parts, weighted
 *   q    = normalise(p - NEGATIVE_SCALE * sum_j v_j * d(n_j))
 *
 * Why these, measured on the demo index (docs/benchmarks.md, "Composite queries"; the table in
 * test/edge/search/composite.routes.test.ts):
 * - Texts as directions from the empty text (the model's embedding of `[CLS][SEP]`). Every text
 *   embedding shares a large component with every other text (CLIP's modality gap). A raw
 *   negative subtracts it too: on the raw embeddings, a strength that kept large shapes out of
 *   "빨간 원, not 큰" made "원, not 빨간" rank blue and purple stars above circles (the colour's
 *   opposite outweighed the shape); without the shared part one strength served both.
 * - TEXT_SCALE: an image part is close to many indexed images (its own neighbours score 0.7-1.0),
 *   so a text part of equal weight was outvoted ("this blue diamond + 빨간" kept blue diamonds).
 * - Normalising p before the negatives: a negative's strength does not depend on how many
 *   positive parts there are. Projection removal (q = p - (p.n)n) was measured too: it makes the
 *   query indifferent to a negative but never pushes away from it, so large red circles stayed.
 */
import { dot, normalise } from '../../../core/vector';

/** The formula's name in answers (`query.formula.name`); a change of constants is a new name. */
export const COMPOSITE_FORMULA = 'centred-sum' as const;
/** What a text part counts against an image part of the same weight. */
export const TEXT_SCALE = 1.5;
/** How far a negative text of weight 1 moves the (unit) positive query away from its direction. */
export const NEGATIVE_SCALE = 0.75;

/** The text whose embedding is the origin of text directions. */
export const NULL_TEXT = '';

export interface EmbeddedPart {
  kind: 'text' | 'image';
  /** Unit-length embedding (for a text, its raw text-tower embedding). */
  vector: Float32Array;
  weight: number;
}

export interface CompositeVectors {
  positive: readonly EmbeddedPart[];
  /** Negative texts: raw text-tower embeddings and weights. */
  negative: readonly { vector: Float32Array; weight: number }[];
  /** The text tower's embedding of NULL_TEXT. */
  nullText: Float32Array;
}

/** `normalise(e - origin)`: a text's direction; zero when the text embeds like the empty text. */
export function textDirection(embedding: Float32Array, origin: Float32Array): Float32Array {
  const out = new Float32Array(embedding.length);
  for (let i = 0; i < out.length; i++) out[i] = (embedding[i] as number) - (origin[i] as number);
  return normalise(out);
}

function addScaled(into: Float32Array, v: Float32Array, scale: number): void {
  for (let i = 0; i < into.length; i++) into[i] = (into[i] as number) + scale * (v[i] as number);
}

/**
 * The unit query vector of a composite query, or null when its parts cancel out (a zero vector
 * ranks nothing). Constants may be overridden (the benchmark's comparisons); the service uses the
 * defaults.
 */
export function combineParts(
  parts: CompositeVectors,
  constants: { textScale?: number; negativeScale?: number } = {},
): Float32Array | null {
  const { textScale = TEXT_SCALE, negativeScale = NEGATIVE_SCALE } = constants;
  const dim = parts.nullText.length;
  const sum = new Float32Array(dim);
  for (const part of parts.positive) {
    const u = part.kind === 'text' ? textDirection(part.vector, parts.nullText) : part.vector;
    addScaled(sum, u, part.kind === 'text' ? textScale * part.weight : part.weight);
  }
  if (dot(sum, sum) === 0) return null;
  const query = normalise(sum);
  for (const negative of parts.negative) {
    addScaled(query, textDirection(negative.vector, parts.nullText), -negativeScale * negative.weight);
  }
  const unit = normalise(query);
  return dot(unit, unit) > 0.5 ? unit : null;
}
