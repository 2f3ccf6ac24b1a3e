import { describe, expect, it } from 'vitest';
import {
  decodeSegment,
  encodeSegment,
  rowVector,
  SEGMENT_FORMAT_VERSION,
  type SegmentEncoding,
  SegmentError,
  scoreRow,
} from '../../../src/core/index-format/segment';
import { cosine, dot } from '../../../src/core/vector';
import { randomUnitVectors } from '../support/random-vectors';

const DIM = 32;
const vectors = randomUnitVectors(5, DIM, 11);
const items = vectors.map((vector, i) => ({
  id: `img-${i}`,
  vector,
  metadata: { colour: i % 2 ? 'red' : 'blue', count: i, big: i > 2, note: null },
  ...(i === 0 ? {} : { caption: `빨간 원 ${i}` }),
}));

async function encoded(encoding: SegmentEncoding = 'int8'): Promise<Uint8Array> {
  return encodeSegment({ model: 'koclip-tiny', version: 'v-test', dim: DIM, encoding, items });
}

/** Rewrites the trailing checksum after a deliberate corruption, to reach the checks behind it. */
async function resign(bytes: Uint8Array): Promise<Uint8Array> {
  const body = bytes.subarray(0, bytes.length - 32);
  bytes.set(new Uint8Array(await crypto.subtle.digest('SHA-256', body)), bytes.length - 32);
  return bytes;
}

describe('segment codec', () => {
  for (const encoding of ['int8', 'fp16'] as const) {
    it(`round-trips ids, metadata, captions and ${encoding} vectors`, async () => {
      const seg = await decodeSegment(await encoded(encoding), {
        model: 'koclip-tiny',
        dim: DIM,
        version: 'v-test',
      });
      expect(seg).toMatchObject({
        formatVersion: SEGMENT_FORMAT_VERSION,
        model: 'koclip-tiny',
        version: 'v-test',
        encoding,
        dim: DIM,
        count: 5,
      });
      expect(seg.ids).toEqual(items.map((i) => i.id));
      expect(seg.attrs[0]).toEqual({ metadata: items[0]?.metadata });
      expect(seg.attrs[3]).toEqual({ metadata: items[3]?.metadata, caption: '빨간 원 3' });
      expect(seg.checksum).toMatch(/^[0-9a-f]{64}$/);
      const tolerance = encoding === 'int8' ? 0.999 : 0.99999;
      for (let row = 0; row < 5; row++) {
        const v = vectors[row] as Float32Array;
        expect(cosine(rowVector(seg, row), v)).toBeGreaterThan(tolerance);
        expect(
          Math.abs(scoreRow(seg, vectors[0] as Float32Array, row) - dot(vectors[0] as Float32Array, v)),
        ).toBeLessThan(encoding === 'int8' ? 1e-2 : 1e-3);
      }
    });
  }

  it('encodes an empty segment', async () => {
    const bytes = await encodeSegment({ model: 'm', version: '1', dim: 4, encoding: 'fp16', items: [] });
    const seg = await decodeSegment(bytes);
    expect(seg.count).toBe(0);
    expect(seg.ids).toEqual([]);
  });

  it('decodes from an unaligned view', async () => {
    const bytes = await encoded();
    const padded = new Uint8Array(bytes.length + 1);
    padded.set(bytes, 1);
    const seg = await decodeSegment(padded.subarray(1));
    expect(seg.ids).toHaveLength(5);
  });

  it('refuses to encode bad input', async () => {
    const base = { model: 'm', version: '1', dim: 2, encoding: 'int8' as const };
    await expect(encodeSegment({ ...base, items: [{ id: 'a', vector: [1, 0, 0] }] })).rejects.toThrow(
      /components/,
    );
    await expect(encodeSegment({ ...base, items: [{ id: 'a', vector: [Number.NaN, 0] }] })).rejects.toThrow(
      /non-finite/,
    );
    await expect(
      encodeSegment({
        ...base,
        items: [
          { id: 'a', vector: [1, 0] },
          { id: 'a', vector: [0, 1] },
        ],
      }),
    ).rejects.toThrow(/duplicate/);
    await expect(encodeSegment({ ...base, dim: 0, items: [] })).rejects.toThrow(SegmentError);
    await expect(encodeSegment({ ...base, encoding: 'fp8' as SegmentEncoding, items: [] })).rejects.toThrow(
      /encoding/,
    );
  });

  const corruptions: [string, (b: Uint8Array) => Promise<Uint8Array> | Uint8Array, string][] = [
    ['truncated to a few bytes', (b) => b.subarray(0, 10), 'truncated'],
    ['cut short', (b) => b.subarray(0, b.length - 1), 'length'],
    ['extra trailing byte', (b) => Uint8Array.of(...b, 0), 'length'],
    [
      'flipped vector bit',
      (b) => {
        b[b.length - 40] = (b[b.length - 40] as number) ^ 1;
        return b;
      },
      'checksum',
    ],
    [
      'flipped checksum bit',
      (b) => {
        b[b.length - 1] = (b[b.length - 1] as number) ^ 1;
        return b;
      },
      'checksum',
    ],
    [
      'bad magic',
      (b) => {
        b[0] = 0x58;
        return b;
      },
      'magic',
    ],
    [
      'future format version',
      (b) => {
        b[4] = 9;
        return resign(b);
      },
      'format_version',
    ],
    [
      'unknown encoding',
      (b) => {
        b[6] = 7;
        return resign(b);
      },
      'encoding',
    ],
    [
      'reserved byte set',
      (b) => {
        b[7] = 1;
        return resign(b);
      },
      'reserved',
    ],
    [
      'zero dim',
      (b) => {
        new DataView(b.buffer).setUint32(8, 0, true);
        return resign(b);
      },
      'dim',
    ],
    [
      'count too large',
      (b) => {
        new DataView(b.buffer).setUint32(12, 2_000_000, true);
        return resign(b);
      },
      'count',
    ],
    [
      'meta not JSON',
      (b) => {
        b[20] = 0x7b + 1;
        return resign(b);
      },
      'meta',
    ],
    [
      'negative scale',
      async (b) => {
        const metaLength = new DataView(b.buffer).getUint32(16, true);
        new DataView(b.buffer).setFloat32((20 + metaLength + 3) & ~3, -1, true);
        return resign(b);
      },
      'scales',
    ],
  ];
  for (const [name, corrupt, code] of corruptions) {
    it(`rejects a segment with ${name} (${code})`, async () => {
      const bytes = await corrupt((await encoded()).slice());
      const error = await decodeSegment(bytes).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SegmentError);
      expect((error as SegmentError).code).toBe(code);
    });
  }

  it('rejects a segment of another model, version or dim', async () => {
    const bytes = await encoded();
    await expect(decodeSegment(bytes, { model: 'koclip-base' })).rejects.toThrow(/model koclip-tiny/);
    await expect(decodeSegment(bytes, { version: 'other' })).rejects.toThrow(/version v-test/);
    await expect(decodeSegment(bytes, { dim: 64 })).rejects.toThrow(/dim 32/);
  });
});
