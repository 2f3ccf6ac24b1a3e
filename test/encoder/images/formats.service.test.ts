/**
 * Every accepted format, generated with sharp here: JPEG, PNG, WebP, GIF (first frame only),
 * EXIF-rotated JPEG (orientation honoured) and PNG with alpha (flattened onto white).
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridAnswerSchema } from '../../../src/core/contract/encoder-api';
import { cosine, type EmbedAnswer, type RunningEncoder, startEncoder } from '../support/service-process';

let encoder: RunningEncoder;
beforeAll(async () => {
  encoder = await startEncoder();
});
afterAll(() => encoder.stop());

/** A 160x96 test picture: coloured quadrants and a bar, so orientation and colour matter. */
async function picture(): Promise<{ raw: Buffer; width: number; height: number }> {
  const width = 160;
  const height = 96;
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      const left = x < width / 2;
      const top = y < height / 2;
      raw[o] = left ? 230 : 20;
      raw[o + 1] = top ? 200 : 40;
      raw[o + 2] = x > 120 && y > 60 ? 250 : 10;
    }
  }
  return { raw, width, height };
}

async function embed(bytes: Buffer, type: string): Promise<{ status: number; body: EmbedAnswer }> {
  const res = await encoder.call('/v1/embed/image', {
    method: 'POST',
    body: new Uint8Array(bytes),
    headers: { 'content-type': type },
  });
  return { status: res.status, body: (await res.json()) as EmbedAnswer };
}

async function embedding(bytes: Buffer, type = 'application/octet-stream'): Promise<number[]> {
  const { status, body } = await embed(bytes, type);
  expect(status, JSON.stringify(body)).toBe(200);
  return body.data[0]?.embedding ?? [];
}

describe('accepted formats', () => {
  it('PNG, lossless WebP and GIF of the same pixels embed identically; JPEG closely', async () => {
    const { raw, width, height } = await picture();
    const img = () => sharp(raw, { raw: { width, height, channels: 3 } });
    const png = await embedding(await img().png().toBuffer(), 'image/png');
    const webp = await embedding(await img().webp({ lossless: true }).toBuffer(), 'image/webp');
    const jpeg = await embedding(await img().jpeg({ quality: 95 }).toBuffer(), 'image/jpeg');
    expect(png).toHaveLength(256);
    expect(cosine(webp, png)).toBeGreaterThan(0.9999);
    expect(cosine(jpeg, png)).toBeGreaterThan(0.99);
  });

  it('reports the decoded size and the sha256 of the bytes', async () => {
    const { raw, width, height } = await picture();
    const bytes = await sharp(raw, { raw: { width, height, channels: 3 } })
      .webp()
      .toBuffer();
    const { body } = await embed(bytes, 'image/webp');
    expect(body.data[0]).toMatchObject({ index: 0, width, height });
    expect(body.data[0]?.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('GIF: only the first frame is embedded', async () => {
    const frame = (r: number, g: number, b: number) =>
      sharp({ create: { width: 64, height: 64, channels: 3, background: { r, g, b } } })
        .raw()
        .toBuffer();
    const red = await frame(255, 0, 0);
    const blue = await frame(0, 0, 255);
    const animated = await sharp(Buffer.concat([red, blue]), {
      raw: { width: 64, height: 128, channels: 3, pageHeight: 64 },
    })
      .gif({ delay: [100, 100] })
      .toBuffer();
    expect((await sharp(animated).metadata()).pages).toBe(2);
    const gif = await embedding(animated, 'image/gif');
    const redPng = await embedding(
      await sharp(red, { raw: { width: 64, height: 64, channels: 3 } })
        .png()
        .toBuffer(),
    );
    const bluePng = await embedding(
      await sharp(blue, { raw: { width: 64, height: 64, channels: 3 } })
        .png()
        .toBuffer(),
    );
    expect(cosine(gif, redPng)).toBeGreaterThan(0.9999);
    expect(cosine(gif, redPng)).toBeGreaterThan(cosine(gif, bluePng));
    const { body } = await embed(animated, 'image/gif');
    expect(body.data[0]).toMatchObject({ width: 64, height: 64 });
  });

  it('EXIF orientation is honoured', async () => {
    const { raw, width, height } = await picture();
    const upright = await embedding(
      await sharp(raw, { raw: { width, height, channels: 3 } })
        .png()
        .toBuffer(),
    );
    // Store the picture rotated 90 degrees anticlockwise, tagged "rotate 90 clockwise to display".
    const stored = await sharp(raw, { raw: { width, height, channels: 3 } })
      .rotate(270)
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const meta = await sharp(stored).metadata();
    expect([meta.width, meta.height, meta.orientation]).toEqual([height, width, 6]);
    const { body } = await embed(stored, 'image/jpeg');
    expect(body.data[0]).toMatchObject({ width, height });
    const rotated = body.data[0]?.embedding ?? [];
    expect(cosine(rotated, upright)).toBeGreaterThan(0.995);
    // Without the tag, the same pixels are a different picture to the model.
    const untagged = await embedding(
      await sharp(raw, { raw: { width, height, channels: 3 } })
        .rotate(270)
        .jpeg({ quality: 100 })
        .toBuffer(),
    );
    expect(cosine(rotated, upright)).toBeGreaterThan(cosine(untagged, upright));
  });

  it('PNG with alpha: transparency is flattened onto white', async () => {
    const size = 64;
    const rgba = Buffer.alloc(size * size * 4); // fully transparent black
    for (let i = 0; i < size * size; i++) {
      if (i % size < 16) rgba.writeUInt32BE(0x2060a0ff, i * 4); // opaque blue stripe on the left
    }
    const transparent = await sharp(rgba, { raw: { width: size, height: size, channels: 4 } })
      .png()
      .toBuffer();
    const onWhite = Buffer.alloc(size * size * 3, 255);
    for (let i = 0; i < size * size; i++) {
      if (i % size < 16) onWhite.set([0x20, 0x60, 0xa0], i * 3);
    }
    const onBlack = Buffer.alloc(size * size * 3, 0);
    for (let i = 0; i < size * size; i++) {
      if (i % size < 16) onBlack.set([0x20, 0x60, 0xa0], i * 3);
    }
    const got = await embedding(transparent, 'image/png');
    const white = await embedding(
      await sharp(onWhite, { raw: { width: size, height: size, channels: 3 } })
        .png()
        .toBuffer(),
    );
    const black = await embedding(
      await sharp(onBlack, { raw: { width: size, height: size, channels: 3 } })
        .png()
        .toBuffer(),
    );
    expect(cosine(got, white)).toBeGreaterThan(0.9999);
    expect(cosine(got, white)).toBeGreaterThan(cosine(got, black));
  });

  it('extreme aspect ratios (1x20000, 20000x1) are embedded', async () => {
    for (const [width, height] of [
      [1, 20_000],
      [20_000, 1],
    ] as const) {
      const bytes = await sharp({ create: { width, height, channels: 3, background: '#456' } })
        .png()
        .toBuffer();
      const { status, body } = await embed(bytes, 'image/png');
      expect(status).toBe(200);
      expect(body.data[0]).toMatchObject({ width, height });
    }
  });

  it('grid=RxC answers one embedding per cell, row-major', async () => {
    const side = 224;
    const colours = [
      [230, 30, 30],
      [30, 200, 40],
      [20, 40, 220],
      [240, 220, 30],
    ] as const;
    const raw = Buffer.alloc(side * side * 3);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++)
        raw.set(colours[(y < side / 2 ? 0 : 2) + (x < side / 2 ? 0 : 1)] ?? [], (y * side + x) * 3);
    }
    const bytes = await sharp(raw, { raw: { width: side, height: side, channels: 3 } })
      .png()
      .toBuffer();
    const res = await encoder.call('/v1/embed/image?grid=2x2', {
      method: 'POST',
      body: new Uint8Array(bytes),
      headers: { 'content-type': 'image/png' },
    });
    expect(res.status).toBe(200);
    const body: EmbedAnswer = GridAnswerSchema.parse(await res.json());
    expect(body.data.map((d) => d.index)).toEqual([0, 1, 2, 3]);
    const solid = await Promise.all(
      colours.map(async ([r, g, b]) =>
        embedding(
          await sharp({ create: { width: 64, height: 64, channels: 3, background: { r, g, b } } })
            .png()
            .toBuffer(),
        ),
      ),
    );
    for (const [cell, item] of body.data.entries()) {
      const scores = solid.map((s) => cosine(item.embedding ?? [], s));
      expect(scores[cell]).toBeGreaterThan(0.9999);
      expect(scores.indexOf(Math.max(...scores))).toBe(cell);
    }
  });
});
