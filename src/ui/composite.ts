/**
 * "More like this, but…" on a result card: the card's indexed image plus a text to add (and,
 * optionally, a text to avoid), searched as one composite query (POST /v1/search `positive` and
 * `negative`; docs/image-api.md, "Composite queries"), and the line that shows how the answer's
 * query was built (its parts, their weights and the formula, as the API reports them).
 */
import type { SearchResponse } from '../core/contract/api-schemas';
import { h } from './dom';

/** A card's image, what to add, and what to avoid (optional). */
export interface ButQuery {
  image_id: string;
  text: string;
  not?: string;
}

/** The query part of the request body. */
export function compositeBody(q: ButQuery) {
  return {
    positive: [{ image_id: q.image_id }, { text: q.text }],
    ...(q.not ? { negative: [{ text: q.not }] } : {}),
  };
}

let forms = 0;

/** The card's "More like this, but…" button and the small form it opens. */
export function butControls(
  id: string,
  run: (q: ButQuery) => void,
): { button: HTMLButtonElement; form: HTMLFormElement } {
  const formId = `but-form-${++forms}`;
  const button = h(
    'button',
    {
      type: 'button',
      class: 'small',
      'aria-expanded': 'false',
      'aria-controls': formId,
      'aria-label': `${id}와 비슷하지만… · More like ${id}, but…`,
    },
    '비슷하지만… · Like this, but…',
  );
  const text = h('input', {
    name: 'but',
    required: true,
    maxlength: '1000',
    autocomplete: 'off',
    placeholder: '예: 파란',
  });
  const not = h('input', { name: 'not', maxlength: '1000', autocomplete: 'off', placeholder: '예: 큰' });
  const form = h(
    'form',
    {
      id: formId,
      class: 'but-form',
      hidden: true,
      'aria-label': `${id} 합성 검색 · Composite search from ${id}`,
    },
    h('label', {}, '더할 것 · and', text),
    h('label', {}, '뺄 것 · not (optional)', not),
    h('button', { type: 'submit', class: 'small primary' }, '검색 · Search'),
  );
  button.addEventListener('click', () => {
    const open = form.hidden;
    form.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) text.focus();
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const add = text.value.trim();
    if (!add) return;
    const avoid = not.value.trim();
    run({ image_id: id, text: add, ...(avoid ? { not: avoid } : {}) });
  });
  return { button, form };
}

/** `이미지 demo-0191 ×1 + "파란" ×1 − "큰" ×1`: the parts as the API used them. */
export function describeComposite(query: SearchResponse['query']): string {
  const part = (p: NonNullable<SearchResponse['query']['positive']>[number]) => {
    const what =
      p.kind === 'text'
        ? `"${p.text ?? ''}"`
        : p.kind === 'image_id'
          ? `이미지 · image ${p.id ?? ''}`
          : `이미지 · image ${p.url ?? p.sha256?.slice(0, 12) ?? ''}`;
    return `${what} ×${p.weight}`;
  };
  const plus = (query.positive ?? []).map(part).join(' + ');
  const minus = (query.negative ?? []).map((p) => ` − ${part(p)}`).join('');
  const formula = query.formula
    ? ` (${query.formula.name}: 텍스트 · text ×${query.formula.text_scale}, 빼기 · negatives ×${query.formula.negative_scale})`
    : '';
  return `합성 검색 · Composite query: ${plus}${minus}${formula}`;
}
