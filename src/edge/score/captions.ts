/**
 * Caption scoring (KoCLIP's Image->Text): logits = exp(logit_scale) * cosine(image, caption),
 * probabilities = softmax over the captions. Pure: no bindings.
 */
import { cosine, softmax } from '../../core/vector';

export interface CaptionScores {
  logits: number[];
  probs: number[];
  best: number;
}

/** Applies a `{}` template to every caption (no template: the captions as given). */
export function applyTemplate(captions: readonly string[], template: string | undefined): string[] {
  return template ? captions.map((c) => template.replace('{}', c)) : [...captions];
}

/** Logits and softmax probabilities of one image against several caption embeddings. */
export function scoreCaptions(
  image: Float32Array,
  captions: readonly Float32Array[],
  logitScale: number,
): CaptionScores {
  const scale = Math.exp(logitScale);
  const logits = captions.map((c) => scale * cosine(image, c));
  const probs = softmax(logits);
  let best = 0;
  probs.forEach((p, i) => {
    if (p > (probs[best] as number)) best = i;
  });
  return { logits, probs, best };
}
