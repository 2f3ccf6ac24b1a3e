/**
 * mulberry32: a small seeded PRNG (uniform numbers in [0, 1) from a 32-bit state), so that
 * synthetic data (benchmark vectors and images, test vectors, fault schedules) is the same on
 * every run and in every runtime. Hand-written: eight lines, and no dependency gives the same
 * numbers in workerd, Node and the browser.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
