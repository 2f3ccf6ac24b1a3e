/**
 * /v1/search answers from the search kernel (`x-koclip-search-path`), with the page the JS loop
 * (referencePage over the stored segments) gives, and sees writes at once: a delete and an
 * upsert through the index writer show in the very next search, cursors page consistently.
 */
import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { IndexReader, writerFor } from '../../../src/edge/index';
import { loadModel } from '../../../src/edge/inference/model-registry';
import { embedTexts } from '../../../src/edge/inference/text-tower';
import { referencePage } from '../../../src/edge/search/reference-ranking';
import { demo, manifest, space, writeVectors } from '../support/search-fixtures';

const COLLECTION = 'kernel-route';
const index = { collection: COLLECTION, ...space };
const dim = manifest.projection_dim;

interface Body {
  results: { id: string; score: number }[];
  next_cursor: string | null;
}

async function search(params: Record<string, string>) {
  const url = `http://worker.test/v1/search?${new URLSearchParams({ collection: COLLECTION, ...params })}`;
  const response = await exports.default.fetch(new Request(url));
  expect(response.status).toBe(200);
  return { path: response.headers.get('x-koclip-search-path'), body: (await response.json()) as Body };
}

/** The JS loop over the stored segments: the page the route must give. */
async function reference(text: string, k: number, offset = 0) {
  const loaded = await new IndexReader(env, index).load();
  const query = (await embedTexts(env, await loadModel(env, manifest.id), [text]))
    .embeddings[0] as Float32Array;
  const page = referencePage(loaded?.segments ?? [], query, { k, offset, dead: loaded?.dead ?? [] });
  return { hits: page.hits.map((h) => ({ id: h.id, score: h.score })), query };
}

async function upsert(items: { id: string; vector: Float32Array }[]) {
  await writeVectors(env, index, items);
}

const pick = (body: Body) => body.results.map((h) => ({ id: h.id, score: h.score }));

describe('/v1/search from the search kernel', () => {
  it('answers from the kernel with the JS loop page, and sees deletes and upserts at once', async () => {
    await upsert(demo.items.map((item) => ({ id: item.id, vector: item.vector as Float32Array })));
    const text = '빨간 원';
    const first = await search({ text, k: '10' });
    expect(first.path).toBe('kernel-fp16');
    const want = await reference(text, 10);
    expect(pick(first.body)).toEqual(want.hits);

    // A delete applies when accepted: the next search no longer returns the image.
    const gone = first.body.results[0]?.id as string;
    await writerFor(env, index).accept({ ...index, dim }, [{ op: 'delete', id: gone }]);
    const afterDelete = await search({ text, k: '10' });
    expect(afterDelete.path).toBe('kernel-fp16');
    expect(afterDelete.body.results.map((h) => h.id)).not.toContain(gone);
    expect(pick(afterDelete.body)).toEqual((await reference(text, 10)).hits);

    // An upsert lands in a new segment: the next search finds it first (it is the query itself).
    await upsert([{ id: 'query-itself', vector: want.query }]);
    const afterUpsert = await search({ text, k: '10' });
    expect(afterUpsert.path).toBe('kernel-fp16');
    expect(afterUpsert.body.results[0]?.id).toBe('query-itself');
    expect(pick(afterUpsert.body)).toEqual((await reference(text, 10)).hits);
  });

  it('pages with cursors through the same ranking as the JS loop', async () => {
    const text = '파란 별';
    const pages: { id: string; score: number }[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 3; i++) {
      const page: Awaited<ReturnType<typeof search>> = await search({
        text,
        k: '7',
        ...(cursor ? { cursor } : {}),
      });
      expect(page.path).toBe('kernel-fp16');
      pages.push(...pick(page.body));
      cursor = page.body.next_cursor;
      if (!cursor) break;
    }
    expect(pages).toEqual((await reference(text, pages.length)).hits);
  });
});
