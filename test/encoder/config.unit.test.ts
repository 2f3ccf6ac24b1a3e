/** The encoder's settings: the contract's limits are the defaults, and the token must be presentable. */
import { describe, expect, it } from 'vitest';
import { ENCODER_LIMITS } from '../../src/core/contract/encoder-api';
import { loadConfig } from '../../src/encoder/config';

describe('loadConfig', () => {
  it('defaults the request limits to the contract the Worker sends within', () => {
    const { limits } = loadConfig({ ENCODER_TOKEN: 'dev-encoder-token' });
    expect(limits).toMatchObject({
      bodyBytes: ENCODER_LIMITS.bodyBytes,
      images: ENCODER_LIMITS.images,
      texts: ENCODER_LIMITS.texts,
      textChars: ENCODER_LIMITS.textChars,
    });
  });

  it.each(['has spaces in it', 'p@ssw0rd!!', 'tökenwithumlaut'])(
    'refuses a token no bearer header can carry: %s',
    (token) => {
      expect(() => loadConfig({ ENCODER_TOKEN: token })).toThrow(/ENCODER_TOKEN: letters, digits/);
    },
  );

  it('accepts hex, base64 and base64url tokens', () => {
    for (const token of ['0123456789abcdef', 'YWJjZGVmZ2hpams=', 'a-b_c.d~e+f/g']) {
      expect(loadConfig({ ENCODER_TOKEN: token }).token).toBe(token);
    }
  });
});
