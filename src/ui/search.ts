/**
 * Text→Image and Image→Image: search by text as the user types (debounced), by an indexed image
 * ("more like this"), or by an indexed image and a text ("more like this, but…", a composite
 * query: ./composite.ts); a grid of results with scores, "more" through next_cursor, and the
 * empty-index, no-result and error states.
 */
import type { SearchHit, SearchResponse } from '../core/contract/api-schemas';
import { ApiFailure, api, describeFailure, imageSrc, postJson, releaseImages, showImage } from './api';
import { type ButQuery, butControls, compositeBody, describeComposite } from './composite';
import { byId, clearStatus, fmt, h, setStatus } from './dom';

type Query = { text: string } | { image_id: string } | { composite: ButQuery };

/** Asks another panel to use an image (`target`: score or patches). */
export function useImage(target: 'score' | 'patches', id: string, collection: string): void {
  document.dispatchEvent(new CustomEvent('koclip:use-image', { detail: { target, id, collection } }));
}

export function setUpSearch(): { searchByImage: (id: string) => void } {
  const form = byId<HTMLFormElement>('search-form');
  const input = byId<HTMLInputElement>('q');
  const status = byId('search-status');
  const list = byId<HTMLUListElement>('results');
  const more = byId<HTMLButtonElement>('more');
  const queryLine = byId('search-query');
  let query: Query | undefined;
  let cursor: string | null = null;
  let seq = 0;
  let timer: number | undefined;

  const clearResults = () => {
    releaseImages(list);
    list.replaceChildren();
  };

  const collection = () => byId<HTMLInputElement>('collection').value.trim() || 'default';

  function filter(): Record<string, unknown> | undefined {
    const out: Record<string, unknown> = {};
    const colour = byId<HTMLSelectElement>('filter-colour').value;
    const shape = byId<HTMLSelectElement>('filter-shape').value;
    if (colour) out.colour = colour;
    if (shape) out.shape = shape;
    for (const pair of byId<HTMLInputElement>('filter-extra').value.split(',')) {
      const [key, ...rest] = pair.split('=');
      const value = rest.join('=').trim();
      if (!key?.trim() || !value) continue;
      const n = Number(value);
      out[key.trim()] =
        value === 'true' ? true : value === 'false' ? false : Number.isFinite(n) && value !== '' ? n : value;
    }
    return Object.keys(out).length ? out : undefined;
  }

  /** k, collection, min score, filter and cursor: what every kind of query sends. */
  function options(after: string | null) {
    const min = byId<HTMLInputElement>('min-score').value;
    const f = filter();
    return {
      k: Number(byId<HTMLSelectElement>('k').value),
      collection: collection(),
      ...(min.trim() !== '' ? { min_score: Number(min) } : {}),
      ...(f ? { filter: f } : {}),
      ...(after ? { cursor: after } : {}),
    };
  }

  /** A text or an image id as a GET; a composite as a POST (JSON only). */
  function request(q: Query, after: string | null) {
    const o = options(after);
    if ('composite' in q)
      return postJson<SearchResponse>('/v1/search', { ...compositeBody(q.composite), ...o });
    const p = new URLSearchParams();
    if ('text' in q) p.set('q', q.text);
    else p.set('image_id', q.image_id);
    for (const [key, value] of Object.entries(o))
      p.set(key, typeof value === 'object' ? JSON.stringify(value) : String(value));
    return api<SearchResponse>(`/v1/search?${p}`);
  }

  function card(hit: SearchHit, coll: string): HTMLLIElement {
    const meta = Object.entries(hit.metadata)
      .map(([k, v]) => `${k}: ${String(v)}`)
      .join(', ');
    const alt = hit.caption ?? hit.id;
    const similar = h(
      'button',
      { type: 'button', class: 'small', 'aria-label': `${hit.id}와 비슷한 이미지 · More like ${hit.id}` },
      '비슷한 이미지 · More like this',
    );
    similar.addEventListener('click', () => run({ image_id: hit.id }));
    const score = h(
      'button',
      { type: 'button', class: 'small', 'aria-label': `${hit.id} 캡션 점수 · Score captions for ${hit.id}` },
      '캡션 · Captions',
    );
    score.addEventListener('click', () => useImage('score', hit.id, coll));
    const patches = h(
      'button',
      { type: 'button', class: 'small', 'aria-label': `${hit.id} 패치 · Patches of ${hit.id}` },
      '패치 · Patches',
    );
    patches.addEventListener('click', () => useImage('patches', hit.id, coll));
    const but = butControls(hit.id, (composite) => void run({ composite }));
    const img = h('img', { alt, loading: 'lazy', width: '160', height: '160' });
    showImage(img, imageSrc(hit.id, coll));
    return h(
      'li',
      { class: 'card', 'data-id': hit.id },
      img,
      h(
        'div',
        { class: 'card-body' },
        h('p', { class: 'score' }, h('span', { class: 'sr-only', text: '점수 · score ' }), fmt(hit.score)),
        h('p', { class: 'caption', text: hit.caption ?? '' }),
        h('p', { class: 'meta muted', text: `${hit.id}${meta ? ` · ${meta}` : ''}` }),
        h('div', { class: 'actions' }, similar, but.button, score, patches),
        but.form,
      ),
    );
  }

  async function run(q: Query, append = false): Promise<void> {
    const mine = ++seq;
    if (!append) {
      query = q;
      cursor = null;
    }
    queryLine.hidden = 'text' in q;
    queryLine.textContent =
      'image_id' in q
        ? `"${q.image_id}"와 비슷한 이미지 · Images like ${q.image_id}`
        : 'composite' in q
          ? `"${q.composite.image_id}"와 비슷하지만 "${q.composite.text}" · Like ${q.composite.image_id}, but ${q.composite.text}`
          : '';
    setStatus(status, 'busy', '검색 중… · Searching…');
    more.hidden = true;
    const coll = collection();
    try {
      const { body } = await request(q, append ? cursor : null);
      if (mine !== seq) return;
      // How the service built the query, in its own words (parts, weights, formula).
      if (body.query.kind === 'composite') queryLine.textContent = describeComposite(body.query);
      if (!append) clearResults();
      for (const hit of body.results) list.append(card(hit, coll));
      cursor = body.next_cursor;
      more.hidden = !cursor;
      const shown = list.children.length;
      if (shown === 0)
        setStatus(
          status,
          'empty',
          '결과가 없습니다. 필터나 최소 점수를 바꿔 보세요 · No results: try another filter or min score',
        );
      else setStatus(status, 'info', `결과 ${shown}개 · ${shown} results`);
    } catch (error) {
      if (mine !== seq) return;
      if (!append) clearResults();
      if (error instanceof ApiFailure && error.code === 'index_empty') {
        setStatus(
          status,
          'empty',
          `색인이 비어 있습니다. "이미지 추가" 탭에서 이미지를 올리세요 · The ${coll} index is empty: add images first`,
        );
      } else setStatus(status, 'error', describeFailure(error));
    }
  }

  function fromInput(): void {
    const text = input.value.trim();
    if (text) void run({ text });
    else {
      seq++;
      clearResults();
      more.hidden = true;
      clearStatus(status);
    }
  }

  input.addEventListener('input', () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(fromInput, 250);
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    window.clearTimeout(timer);
    fromInput();
  });
  form.addEventListener('change', (e) => {
    if (e.target !== input && query) void run(query);
  });
  for (const chip of form.querySelectorAll<HTMLButtonElement>('[data-example]')) {
    chip.addEventListener('click', () => {
      input.value = chip.dataset.example ?? '';
      fromInput();
    });
  }
  more.addEventListener('click', () => {
    if (query && cursor) void run(query, true);
  });
  return { searchByImage: (id) => void run({ image_id: id }) };
}
