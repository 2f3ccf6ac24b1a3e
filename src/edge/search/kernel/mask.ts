/**
 * The allowed-row mask as the kernel's scan reads it: one bit per row (bit `r & 7` of byte
 * `r >> 3`), in 32-bit words, written into the index's wasm memory before a search.
 */

/** Row numbers, as a list or a set. */
export type RowSet = ArrayLike<number> | ReadonlySet<number>;

/**
 * Writes the effective mask of `n` rows (allowed minus excluded) at `at` and returns `at`, or 0
 * when every row is admitted (the scan then reads no mask). `allowed`: a bitset or a list of
 * row numbers (each inside the index); `exclude`: rows never returned (others ignored).
 */
export function writeRowMask(
  mem: ArrayBuffer,
  at: number,
  n: number,
  allowed: Uint8Array | ArrayLike<number> | undefined,
  exclude: RowSet | undefined,
): number {
  const excludeSize = exclude === undefined ? 0 : 'size' in exclude ? exclude.size : exclude.length;
  if (allowed === undefined && excludeSize === 0) return 0;
  const words = Math.ceil(n / 32);
  const bytes = new Uint8Array(mem, at, words * 4);
  if (allowed === undefined) {
    bytes.fill(0xff);
  } else if (allowed instanceof Uint8Array) {
    const need = Math.ceil(n / 8);
    if (allowed.length < need) {
      throw new RangeError(
        `search kernel: allowed bitset has ${allowed.length} bytes, the index needs ${need}`,
      );
    }
    bytes.fill(0);
    bytes.set(allowed.subarray(0, need));
  } else {
    bytes.fill(0);
    for (let i = 0; i < allowed.length; i++) {
      const r = allowed[i] as number;
      if (!Number.isInteger(r) || r < 0 || r >= n) {
        throw new RangeError(`search kernel: allowed row ${r} is outside the index (0..${n - 1})`);
      }
      bytes[r >>> 3] = (bytes[r >>> 3] as number) | (1 << (r & 7));
    }
  }
  if (exclude !== undefined) {
    const clear = (r: number) => {
      if (Number.isInteger(r) && r >= 0 && r < n)
        bytes[r >>> 3] = (bytes[r >>> 3] as number) & ~(1 << (r & 7));
    };
    if ('size' in exclude) for (const r of exclude) clear(r);
    else for (let i = 0; i < exclude.length; i++) clear(exclude[i] as number);
  }
  // Bits past the last row stay clear (the scan never reads them, but keep the mask tidy).
  if (n % 32 !== 0 && allowed !== undefined) {
    for (let r = n; r < words * 32; r++) bytes[r >>> 3] = (bytes[r >>> 3] as number) & ~(1 << (r & 7));
  }
  return at;
}
