/**
 * The image-id pattern is the same set as `[^\s\p{Cc}]` for every code point, without a flag, so
 * that /openapi.json carries it as a plain JSON-Schema pattern.
 */
import { describe, expect, it } from 'vitest';
import { IMAGE_ID_PATTERN, ImageIdSchema } from '../../../src/core/contract/ids';

describe('IMAGE_ID_PATTERN', () => {
  it('has no flags and accepts exactly the characters of [^\\s\\p{Cc}]', () => {
    expect(IMAGE_ID_PATTERN.flags).toBe('');
    const reference = /^[^\s\p{Cc}]$/u;
    const differ: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const ch = String.fromCodePoint(cp);
      if (IMAGE_ID_PATTERN.test(ch) !== reference.test(ch)) differ.push(cp.toString(16));
    }
    expect(differ).toEqual([]);
  });

  it('accepts real ids and refuses whitespace and controls', () => {
    for (const id of ['demo-0191', 'sku-1042', 'photos/2024/a.jpg', '사진-1', 'emoji-😀', 'à'])
      expect(ImageIdSchema.safeParse(id).success, id).toBe(true);
    for (const id of ['', 'a b', 'a\tb', 'a\u0085b', 'a\u00a0b', 'a\u3000b', 'a\ufeffb', 'a\u0000'])
      expect(ImageIdSchema.safeParse(id).success, JSON.stringify(id)).toBe(false);
  });
});
