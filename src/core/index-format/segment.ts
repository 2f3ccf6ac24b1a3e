/**
 * Index segment codec: many quantised vectors with their ids and metadata in one binary blob.
 *
 * Layout (little-endian):
 *   0  "KSEG" magic                      16 meta: JSON { model, version, ids, attrs } (metaLength bytes)
 *   4  u16 format version (1)            ..  zero padding to a multiple of 4
 *   6  u8 encoding (1 int8, 2 fp16)      ..  f32 x count: per-vector scales
 *   7  u8 reserved (0)                   ..  count x dim vectors (int8, or fp16 bits as u16)
 *   8  u32 dim    12 u32 count           ..  32 bytes: SHA-256 of every byte before it
 *  16  u32 metaLength (then meta at 20)
 * A vector is recovered as `scale * q[i]`. Decoding checks every field and the checksum.
 */
import { z } from 'zod';
import { sha256Bytes, toHex } from '../hash';
import { dotFp16, dotInt8, halfToFloatTable, quantiseFp16, quantiseInt8, type VectorLike } from '../vector';

export const SEGMENT_MAGIC = 'KSEG';
export const SEGMENT_FORMAT_VERSION = 1;
export const SEGMENT_MAX_DIM = 8192;
export const SEGMENT_MAX_COUNT = 1_000_000;
/** Rows per segment the index writer writes (apply and compaction). */
export const DEFAULT_SEGMENT_ROWS = 4096;
const HEADER_BYTES = 20;
const CHECKSUM_BYTES = 32;

export type SegmentEncoding = 'int8' | 'fp16';
const ENCODING_CODES: Record<SegmentEncoding, number> = { int8: 1, fp16: 2 };

const MetadataValue = z.union([z.string(), z.number().finite(), z.boolean(), z.null()]);
export const ItemMetadataSchema = z.record(z.string(), MetadataValue);
export type ItemMetadata = z.infer<typeof ItemMetadataSchema>;

const SegmentMetaSchema = z.object({
  model: z.string().min(1),
  version: z.string().min(1),
  ids: z.array(z.string().min(1)),
  attrs: z.array(z.object({ metadata: ItemMetadataSchema, caption: z.string().optional() })),
});

export interface SegmentItem {
  id: string;
  vector: VectorLike;
  metadata?: ItemMetadata;
  caption?: string;
}

export interface SegmentInput {
  model: string;
  version: string;
  dim: number;
  encoding: SegmentEncoding;
  items: readonly SegmentItem[];
}

export interface Segment {
  formatVersion: number;
  model: string;
  version: string;
  encoding: SegmentEncoding;
  dim: number;
  count: number;
  ids: string[];
  attrs: { metadata: ItemMetadata; caption?: string }[];
  scales: Float32Array;
  /** count x dim, row-major; int8 values or fp16 bits depending on `encoding`. */
  vectors: Int8Array | Uint16Array;
  /** Hex SHA-256 stored in the trailer. */
  checksum: string;
}

/** A segment that fails validation; `code` names what was wrong. */
export class SegmentError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`invalid index segment: ${message}`);
    this.name = 'SegmentError';
  }
}

const align4 = (n: number) => (n + 3) & ~3;

/** Serialises vectors (normally unit-length) with their ids and metadata into a segment. */
export async function encodeSegment(input: SegmentInput): Promise<Uint8Array> {
  const { dim, items, encoding } = input;
  if (!Number.isInteger(dim) || dim < 1 || dim > SEGMENT_MAX_DIM)
    throw new SegmentError('dim', `bad dim ${dim}`);
  if (items.length > SEGMENT_MAX_COUNT) throw new SegmentError('count', `too many vectors (${items.length})`);
  if (!(encoding in ENCODING_CODES)) throw new SegmentError('encoding', `unknown encoding ${encoding}`);
  const meta = SegmentMetaSchema.parse({
    model: input.model,
    version: input.version,
    ids: items.map((i) => i.id),
    attrs: items.map((i) =>
      i.caption === undefined
        ? { metadata: i.metadata ?? {} }
        : { metadata: i.metadata ?? {}, caption: i.caption },
    ),
  });
  if (new Set(meta.ids).size !== meta.ids.length) throw new SegmentError('ids', 'duplicate ids');
  const metaBytes = new TextEncoder().encode(JSON.stringify(meta));
  const count = items.length;
  const scalesOffset = align4(HEADER_BYTES + metaBytes.length);
  const vectorsOffset = scalesOffset + 4 * count;
  const width = encoding === 'int8' ? 1 : 2;
  const checksumOffset = align4(vectorsOffset + count * dim * width);
  const out = new Uint8Array(checksumOffset + CHECKSUM_BYTES);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(SEGMENT_MAGIC), 0);
  view.setUint16(4, SEGMENT_FORMAT_VERSION, true);
  view.setUint8(6, ENCODING_CODES[encoding]);
  view.setUint32(8, dim, true);
  view.setUint32(12, count, true);
  view.setUint32(16, metaBytes.length, true);
  out.set(metaBytes, HEADER_BYTES);
  const scales = new Float32Array(out.buffer, scalesOffset, count);
  const int8 = encoding === 'int8' ? new Int8Array(out.buffer, vectorsOffset, count * dim) : undefined;
  const fp16 = encoding === 'fp16' ? new Uint16Array(out.buffer, vectorsOffset, count * dim) : undefined;
  items.forEach((item, row) => {
    if (item.vector.length !== dim) {
      throw new SegmentError('dim', `item ${item.id} has ${item.vector.length} components, expected ${dim}`);
    }
    for (let i = 0; i < dim; i++) {
      if (!Number.isFinite(item.vector[i]))
        throw new SegmentError('vector', `item ${item.id} has a non-finite value`);
    }
    scales[row] = int8
      ? quantiseInt8(item.vector, int8.subarray(row * dim, (row + 1) * dim))
      : quantiseFp16(item.vector, (fp16 as Uint16Array).subarray(row * dim, (row + 1) * dim));
  });
  out.set(await sha256Bytes(out.subarray(0, checksumOffset)), checksumOffset);
  return out;
}

export interface SegmentExpectation {
  model?: string;
  version?: string;
  dim?: number;
}

/** Parses and validates a segment (structure, limits, metadata, checksum, and optional expectations). */
export async function decodeSegment(
  data: ArrayBuffer | Uint8Array,
  expect: SegmentExpectation = {},
): Promise<Segment> {
  // Copy when unaligned so the typed-array views below are legal.
  const bytes =
    data instanceof Uint8Array ? (data.byteOffset % 4 === 0 ? data : data.slice()) : new Uint8Array(data);
  if (bytes.length < HEADER_BYTES + CHECKSUM_BYTES)
    throw new SegmentError('truncated', `only ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (new TextDecoder().decode(bytes.subarray(0, 4)) !== SEGMENT_MAGIC)
    throw new SegmentError('magic', 'bad magic');
  const formatVersion = view.getUint16(4, true);
  if (formatVersion !== SEGMENT_FORMAT_VERSION) {
    throw new SegmentError('format_version', `unsupported format version ${formatVersion}`);
  }
  const code = view.getUint8(6);
  const encoding = (Object.keys(ENCODING_CODES) as SegmentEncoding[]).find((e) => ENCODING_CODES[e] === code);
  if (!encoding) throw new SegmentError('encoding', `unknown encoding code ${code}`);
  if (view.getUint8(7) !== 0) throw new SegmentError('reserved', 'reserved byte is not zero');
  const dim = view.getUint32(8, true);
  const count = view.getUint32(12, true);
  const metaLength = view.getUint32(16, true);
  if (dim < 1 || dim > SEGMENT_MAX_DIM) throw new SegmentError('dim', `bad dim ${dim}`);
  if (count > SEGMENT_MAX_COUNT) throw new SegmentError('count', `bad count ${count}`);
  const scalesOffset = align4(HEADER_BYTES + metaLength);
  const vectorsOffset = scalesOffset + 4 * count;
  const width = encoding === 'int8' ? 1 : 2;
  const checksumOffset = align4(vectorsOffset + count * dim * width);
  if (bytes.length !== checksumOffset + CHECKSUM_BYTES) {
    throw new SegmentError(
      'length',
      `expected ${checksumOffset + CHECKSUM_BYTES} bytes, got ${bytes.length}`,
    );
  }
  const stored = bytes.subarray(checksumOffset);
  const actual = await sha256Bytes(bytes.subarray(0, checksumOffset));
  if (!actual.every((b, i) => b === stored[i])) throw new SegmentError('checksum', 'checksum mismatch');

  let metaJson: unknown;
  try {
    metaJson = JSON.parse(
      new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(
        bytes.subarray(HEADER_BYTES, HEADER_BYTES + metaLength),
      ),
    );
  } catch {
    throw new SegmentError('meta', 'metadata block is not valid UTF-8 JSON');
  }
  const meta = SegmentMetaSchema.safeParse(metaJson);
  if (!meta.success) throw new SegmentError('meta', meta.error.issues.map((i) => i.message).join('; '));
  const { model, version, ids, attrs } = meta.data;
  if (ids.length !== count || attrs.length !== count) {
    throw new SegmentError('meta', `ids/attrs length ${ids.length}/${attrs.length} != count ${count}`);
  }
  if (new Set(ids).size !== ids.length) throw new SegmentError('ids', 'duplicate ids');
  const scales = new Float32Array(bytes.buffer, bytes.byteOffset + scalesOffset, count);
  if (!scales.every((s) => Number.isFinite(s) && s >= 0))
    throw new SegmentError('scales', 'bad per-vector scale');
  const vectors =
    encoding === 'int8'
      ? new Int8Array(bytes.buffer, bytes.byteOffset + vectorsOffset, count * dim)
      : new Uint16Array(bytes.buffer, bytes.byteOffset + vectorsOffset, count * dim);
  if (expect.model !== undefined && expect.model !== model) {
    throw new SegmentError('model', `segment belongs to model ${model}, expected ${expect.model}`);
  }
  if (expect.version !== undefined && expect.version !== version) {
    throw new SegmentError(
      'version',
      `segment was built with model version ${version}, expected ${expect.version}`,
    );
  }
  if (expect.dim !== undefined && expect.dim !== dim) {
    throw new SegmentError('dim', `segment has dim ${dim}, expected ${expect.dim}`);
  }
  return {
    formatVersion,
    model,
    version,
    encoding,
    dim,
    count,
    ids,
    attrs,
    scales,
    vectors,
    checksum: toHex(stored),
  };
}

/** Approximate dot product of `query` (length dim) with row `row` of the segment. */
export function scoreRow(segment: Segment, query: Float32Array, row: number): number {
  const scale = segment.scales[row] as number;
  return segment.encoding === 'int8'
    ? dotInt8(query, segment.vectors as Int8Array, row, scale)
    : dotFp16(query, segment.vectors as Uint16Array, row, scale);
}

/** The dequantised vector of row `row`. */
export function rowVector(segment: Segment, row: number): Float32Array {
  const { dim } = segment;
  const scale = segment.scales[row] as number;
  const out = new Float32Array(dim);
  const table = segment.encoding === 'fp16' ? halfToFloatTable() : undefined;
  for (let i = 0; i < dim; i++) {
    const q = segment.vectors[row * dim + i] as number;
    out[i] = (table ? (table[q] as number) : q) * scale;
  }
  return out;
}
