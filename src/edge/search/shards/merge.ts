/**
 * Merging the best rows of several shards into the best rows of the whole catalogue, and cutting
 * the page from them. Every shard returns its `need` best admitted rows, highest score first, ties
 * by catalogue row; the `need` best of their union, in the same order, are exactly the `need` best
 * of one exact search over all the segments (a row outside a shard's answer ranks below `need`
 * rows of that shard alone), so the page is the one referencePage gives over the whole catalogue.
 */
import { MAX_SEARCH_DEPTH, type SearchPage } from '../page';
import type { ShardAnswer } from './contract';

/** The `need` best rows of all the answers, with every answer's paths and missing shards. */
export function mergeAnswers(answers: readonly ShardAnswer[], need: number): ShardAnswer {
  const all: { score: number; row: number; at: [number, number] }[] = [];
  answers.forEach((answer, a) => {
    answer.hits.forEach((hit, i) => {
      all.push({ score: hit.score, row: answer.rows[i] as number, at: [a, i] });
    });
  });
  all.sort((x, y) => y.score - x.score || x.row - y.row);
  const best = all.slice(0, need);
  return {
    hits: best.map(({ at: [a, i] }) => (answers[a] as ShardAnswer).hits[i] as ShardAnswer['hits'][number]),
    rows: best.map((b) => b.row),
    paths: answers.flatMap((a) => a.paths),
    missing: answers.flatMap((a) => a.missing),
  };
}

/** The page `[offset, offset + k)` of a merged answer (asked for with `need = depth + 1`). */
export function pageOf(answer: ShardAnswer, offset: number, k: number): SearchPage {
  const depth = Math.min(offset + k, MAX_SEARCH_DEPTH);
  const more = answer.hits.length > depth && depth < MAX_SEARCH_DEPTH;
  return {
    hits: answer.hits.slice(offset, depth),
    rows: answer.rows.slice(offset, depth),
    nextOffset: more ? depth : null,
  };
}

/** Rows each shard must return for the page `[offset, offset + k)`. */
export const needFor = (offset: number, k: number) =>
  Math.min(Math.min(offset + k, MAX_SEARCH_DEPTH) + 1, MAX_SEARCH_DEPTH);
