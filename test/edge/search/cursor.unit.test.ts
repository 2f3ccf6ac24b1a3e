/** Search cursors (src/edge/search/cursor.ts): bound to their query and index generation. */
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, type QueryIdentity } from '../../../src/edge/search/cursor';

describe('cursors', () => {
  const identity: QueryIdentity = {
    model: 'm',
    version: '1',
    source: 'text:빨간 원',
    filter: { colour: 'red', count: 2 },
  };

  it('round-trip for the same query, even with filter keys reordered', async () => {
    const cursor = await encodeCursor(20, 3, identity);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(await decodeCursor(cursor, 3, { ...identity, filter: { count: 2, colour: 'red' } })).toEqual({
      ok: true,
      offset: 20,
    });
  });

  it.each([
    ['another text', { source: 'text:파란 별' }],
    ['another filter', { filter: { colour: 'blue' } }],
    ['another min_score', { minScore: 0.2 }],
  ])('refuse %s', async (_name, change) => {
    const cursor = await encodeCursor(20, 3, identity);
    expect(await decodeCursor(cursor, 3, { ...identity, ...change })).toEqual({
      ok: false,
      reason: 'other_query',
    });
  });

  it('refuse a cursor of another model version as moved (its collection now reads another model)', async () => {
    const cursor = await encodeCursor(20, 3, identity);
    expect(await decodeCursor(cursor, 3, { ...identity, version: '2' })).toEqual({
      ok: false,
      reason: 'moved',
    });
    expect(await decodeCursor(cursor, 3, { ...identity, model: 'another-model' })).toEqual({
      ok: false,
      reason: 'moved',
    });
    // Another model and another query: another query.
    expect(await decodeCursor(cursor, 3, { ...identity, version: '2', source: 'text:other' })).toEqual({
      ok: false,
      reason: 'other_query',
    });
  });

  it('refuse a cursor from an older index generation', async () => {
    const cursor = await encodeCursor(20, 3, identity);
    expect(await decodeCursor(cursor, 4, identity)).toEqual({ ok: false, reason: 'stale' });
  });

  it.each([
    ['garbage', 'not a cursor!'],
    ['bad base64 JSON', 'AAAA'],
    ['empty object', btoa('{}')],
    ['negative offset', btoa(JSON.stringify({ v: 1, o: -5, g: 3, f: '0'.repeat(32) }))],
    ['offset past the max depth', btoa(JSON.stringify({ v: 1, o: 5000, g: 3, f: '0'.repeat(32) }))],
    ['too long', 'A'.repeat(600)],
  ])('refuse %s as malformed', async (_name, cursor) => {
    expect(await decodeCursor(cursor.replace(/=+$/, ''), 3, identity)).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });

  it('refuse a cursor whose query fingerprint was edited', async () => {
    const cursor = await encodeCursor(20, 3, identity);
    const body = JSON.parse(atob(cursor.replace(/-/g, '+').replace(/_/g, '/')));
    const forged = btoa(JSON.stringify({ ...body, f: 'f'.repeat(32) })).replace(/=+$/, '');
    expect(await decodeCursor(forged, 3, identity)).toEqual({ ok: false, reason: 'other_query' });
  });
});
