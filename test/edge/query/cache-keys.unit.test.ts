import { describe, expect, it } from 'vitest';
import manifestJson from '../../../models/koclip-tiny/manifest.json';
import { parseManifest, textTowerIdentity } from '../../../src/core/manifest';
import {
  queryEmbeddingKvKey,
  queryEmbeddingUrl,
  STORAGE_KEY_VERSION,
  scoreCacheKvKey,
  scoreCacheUrl,
  type TextTowerKey,
} from '../../../src/edge/storage-keys';

const tiny = parseManifest(manifestJson);
const space = { model: tiny.id, version: tiny.version };
const int8: TextTowerKey = { ...space, tower: textTowerIdentity(tiny, 'int8') };
const fp32: TextTowerKey = { ...space, tower: textTowerIdentity(tiny, 'fp32') };
const builders = [scoreCacheKvKey, scoreCacheUrl, queryEmbeddingKvKey, queryEmbeddingUrl];
const digest = 'ab'.repeat(32);

describe('cache keys', () => {
  it('carry the key version, the model id and version, and the text tower (files and variant)', () => {
    const sha = tiny.files[tiny.text.files.int8 as string]?.sha256.slice(0, 16) as string;
    expect(scoreCacheKvKey(int8, digest)).toBe(
      `score:${STORAGE_KEY_VERSION}:${tiny.id}:${tiny.version}:${sha}%3Aint8:${digest}`,
    );
    expect(queryEmbeddingUrl(int8, digest)).toBe(
      `https://query-cache.koclip.internal/${STORAGE_KEY_VERSION}/${tiny.id}/${tiny.version}/${sha}%3Aint8/${digest}`,
    );
  });

  it('differ between two towers of one version, and between two packages of one variant', () => {
    const restudied = structuredClone(tiny);
    restudied.files[tiny.text.files.int8 as string] = { sha256: 'cd'.repeat(32), bytes: 1 };
    const other: TextTowerKey = { ...space, tower: textTowerIdentity(restudied, 'int8') };
    for (const build of builders) {
      expect(build(int8, digest)).not.toBe(build(fp32, digest));
      expect(build(int8, digest)).not.toBe(build(other, digest));
    }
  });

  it('refuse a tower of another model or version (a key never names two spaces)', () => {
    for (const build of builders) {
      expect(() => build({ ...int8, version: 'other' }, digest)).toThrow(/is not one of/);
      expect(() => build({ ...int8, model: 'koclip-other' }, digest)).toThrow(/is not one of/);
    }
  });
});
