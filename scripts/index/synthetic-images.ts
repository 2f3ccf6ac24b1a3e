/**
 * Distinct synthetic PNGs for the indexing tests and benchmark: image `n` is a deterministic
 * scene (background, a few shapes of random colour, size and place) drawn with sharp from SVG.
 * Scenes of several shapes on varied backgrounds keep koclip-tiny's embeddings of different `n`
 * apart (the load test checks the largest pairwise cosine of its set once); `embedImages` asks a
 * running encoder for the embeddings that `distinctScenes` compares.
 */
import sharp from 'sharp';
import { mulberry32 } from '../../src/core/random';

/** A seeded PRNG, so image n is the same bytes on every run. */
const prng = mulberry32;

// The model kit's palette (scripts/model/koclip_kit/data.py): koclip-tiny tells these apart.
const COLOURS = [
  [215, 35, 35],
  [245, 135, 20],
  [240, 215, 25],
  [35, 150, 55],
  [35, 75, 215],
  [135, 45, 185],
  [250, 125, 185],
  [125, 75, 35],
];
const BACKGROUNDS = [
  [248, 248, 248],
  [28, 28, 30],
  [150, 150, 150],
  [236, 222, 190],
];
const SHAPES = ['circle', 'square', 'triangle', 'star', 'diamond'] as const;

const pick = <T>(r: () => number, list: readonly T[]): T => list[Math.floor(r() * list.length)] as T;
const rgb = (c: number[], r: () => number, j: number) =>
  `rgb(${c.map((v) => Math.max(0, Math.min(255, Math.round(v + (r() * 2 - 1) * j)))).join(',')})`;

function shape(kind: (typeof SHAPES)[number], cx: number, cy: number, rad: number, fill: string): string {
  const poly = (pts: [number, number][]) =>
    `<polygon points="${pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}" fill="${fill}"/>`;
  if (kind === 'circle') return `<circle cx="${cx}" cy="${cy}" r="${rad}" fill="${fill}"/>`;
  if (kind === 'square') {
    const h = rad * 0.86;
    return poly([
      [cx - h, cy - h],
      [cx + h, cy - h],
      [cx + h, cy + h],
      [cx - h, cy + h],
    ]);
  }
  if (kind === 'diamond')
    return poly([
      [cx, cy - rad],
      [cx + rad * 0.8, cy],
      [cx, cy + rad],
      [cx - rad * 0.8, cy],
    ]);
  const k = kind === 'triangle' ? 3 : 10;
  return poly(
    Array.from({ length: k }, (_, i) => {
      const a = -Math.PI / 2 + (i * 2 * Math.PI) / k;
      const rr = kind === 'star' && i % 2 === 1 ? rad * 0.42 : rad;
      return [cx + rr * Math.cos(a), cy + rr * Math.sin(a)] as [number, number];
    }),
  );
}

/** Scene `n`: a background of the kit's, one to three shapes, each its own colour, kind, size and place. */
export function sceneSvg(n: number, size = 224): string {
  const r = prng(n * 7919 + 17);
  const parts = [`<rect width="${size}" height="${size}" fill="${rgb(pick(r, BACKGROUNDS), r, 8)}"/>`];
  const count = 1 + Math.floor(r() * 3);
  for (let i = 0; i < count; i++) {
    const rad = (size / 224) * (r() < 0.5 ? 17 + r() * 6 : 30 + r() * 20);
    const cx = rad + r() * (size - 2 * rad);
    const cy = rad + r() * (size - 2 * rad);
    parts.push(shape(pick(r, SHAPES), cx, cy, rad, rgb(pick(r, COLOURS), r, 12)));
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}">${parts.join('')}</svg>`;
}

/** PNG bytes of scene `n`. */
export async function scenePng(n: number, size = 224): Promise<Buffer> {
  return sharp(Buffer.from(sceneSvg(n, size)))
    .png()
    .toBuffer();
}

/** Scenes `from..from+count-1`, rendered a few at a time. */
export async function scenePngs(count: number, from = 0, size = 224): Promise<Buffer[]> {
  const out: Buffer[] = new Array(count);
  const step = 16;
  for (let i = 0; i < count; i += step) {
    const chunk = await Promise.all(
      Array.from({ length: Math.min(step, count - i) }, (_, k) => scenePng(from + i + k, size)),
    );
    chunk.forEach((b, k) => {
      out[i + k] = b;
    });
  }
  return out;
}

/**
 * `count` scenes whose embeddings (by `embed`) all have pairwise cosine below `maxCosine`: scenes
 * 0, 1, 2... are taken in order and one too close to a scene already taken is passed over. The
 * largest pairwise cosine of the set is returned with it.
 */
export async function distinctScenes(
  count: number,
  embed: (pngs: Buffer[]) => Promise<Float32Array[]>,
  maxCosine = 0.99,
): Promise<{ scenes: number[]; pngs: Buffer[]; embeddings: Float32Array[]; maxPairCosine: number }> {
  const scenes: number[] = [];
  const pngs: Buffer[] = [];
  const embeddings: Float32Array[] = [];
  let maxPairCosine = -1;
  let next = 0;
  while (scenes.length < count) {
    const want = Math.ceil((count - scenes.length) * 1.15) + 8;
    const batch = await scenePngs(want, next);
    const vectors = await embed(batch);
    for (let i = 0; i < batch.length && scenes.length < count; i++) {
      const v = vectors[i] as Float32Array;
      let worst = -1;
      for (const e of embeddings) {
        let c = 0;
        for (let k = 0; k < v.length; k++) c += (v[k] as number) * (e[k] as number);
        if (c > worst) worst = c;
        if (worst >= maxCosine) break;
      }
      if (worst >= maxCosine) continue;
      maxPairCosine = Math.max(maxPairCosine, worst);
      scenes.push(next + i);
      pngs.push(batch[i] as Buffer);
      embeddings.push(v);
    }
    next += batch.length;
    if (next > count * 4)
      throw new Error(`only ${scenes.length} of ${count} scenes are distinct below cosine ${maxCosine}`);
  }
  return { scenes, pngs, embeddings, maxPairCosine };
}

/** Embeddings of `pngs` straight from an encoder (batches of 32): what `distinctScenes` compares. */
export async function embedImages(
  encoderUrl: string,
  token: string,
  pngs: Uint8Array[],
): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let i = 0; i < pngs.length; i += 32) {
    const form = new FormData();
    for (const p of pngs.slice(i, i + 32))
      form.append('image', new Blob([p], { type: 'image/png' }), 'x.png');
    const response = await fetch(`${encoderUrl}/v1/embed/image`, {
      method: 'POST',
      body: form,
      headers: { authorization: `Bearer ${token}` },
    });
    if (!response.ok) throw new Error(`encoder answered ${response.status}: ${await response.text()}`);
    const body = (await response.json()) as { data: { embedding?: number[]; error?: unknown }[] };
    for (const d of body.data) {
      if (!d.embedding) throw new Error(`encoder refused a generated image: ${JSON.stringify(d.error)}`);
      out.push(Float32Array.from(d.embedding));
    }
  }
  return out;
}
