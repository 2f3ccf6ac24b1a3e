import { describe, expect, it } from 'vitest';
import { IsolateCache } from '../../../src/edge/query/isolate-cache';

describe('IsolateCache', () => {
  it('returns what was set and evicts the least recently used entries past its byte bound', () => {
    const cache = new IsolateCache<string>(30);
    cache.set('a', 'A', 10);
    cache.set('b', 'B', 10);
    cache.set('c', 'C', 10);
    expect(cache.get('a')).toBe('A'); // a is now the youngest
    cache.set('d', 'D', 10); // 40 > 30: b, the oldest, goes
    expect(cache.get('b')).toBeUndefined();
    expect(['a', 'c', 'd'].map((k) => cache.get(k))).toEqual(['A', 'C', 'D']);
    expect(cache.bytes).toBe(30);
    expect(cache.size).toBe(3);
  });

  it('replaces a key without counting it twice and never keeps a value larger than the bound', () => {
    const cache = new IsolateCache<string>(30);
    cache.set('a', 'A', 10);
    cache.set('a', 'A2', 20);
    expect(cache.bytes).toBe(20);
    expect(cache.get('a')).toBe('A2');
    cache.set('huge', 'H', 31);
    expect(cache.get('huge')).toBeUndefined();
    expect(cache.get('a')).toBe('A2');
    cache.set('a', 'A3', 31); // an over-large replacement drops the old value too
    expect(cache.get('a')).toBeUndefined();
    expect(cache.bytes).toBe(0);
  });

  it('clear drops every entry and its bytes', () => {
    const cache = new IsolateCache<string>(30);
    cache.set('a', 'A', 10);
    cache.set('b', 'B', 10);
    cache.clear();
    expect([cache.size, cache.bytes, cache.get('a')]).toEqual([0, 0, undefined]);
    cache.set('c', 'C', 30);
    expect(cache.get('c')).toBe('C');
  });
});
