/**
 * Identifiers that cross a boundary (a request, a storage key, a model package) and the one
 * pattern of each. The model kit reads MODEL_ID_PATTERN's source from this file in its own
 * tests (scripts/model/tests), so the Python and TypeScript sides cannot drift.
 */
import { z } from 'zod';
import { LIMITS } from './limits';

/** Model ids: lowercase letters, digits, `.`, `_`, `-`; at most 64 characters. */
export const MODEL_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export const ModelIdSchema = z.string().regex(MODEL_ID_PATTERN, 'unknown model id format');

/** Whether `id` has the shape of a model id (it may still name no model). */
export function isModelId(id: string): boolean {
  return MODEL_ID_PATTERN.test(id);
}

/**
 * Image ids: any characters but whitespace and control characters (`[^\s\p{Cc}]`), spelled out
 * without the `u` flag: the OpenAPI document carries a regex's source as a JSON-Schema `pattern`,
 * where flags have no place (zod-to-openapi kept `/u` inside it, which no id matched), and where
 * other dialects (Python's, in schemathesis) read `\s` and `\p{..}` differently. The class below is
 * the C0 and C1 controls, space, and the rest of ECMAScript's `\s` (NBSP, U+1680, U+2000-U+200A,
 * U+2028, U+2029, U+202F, U+205F, U+3000, U+FEFF); test/core/contract/ids.unit.test.ts checks
 * it against the `u` form for every code point.
 */
export const IMAGE_ID_PATTERN =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  /^[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+$/;

export const ImageIdSchema = z
  .string()
  .min(1)
  .max(LIMITS.idChars)
  .regex(IMAGE_ID_PATTERN, 'image ids have no whitespace or control characters');

/** A content hash: lowercase hex SHA-256. */
export const Sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');

/** Collection names: a named image set; `default` when a request names none. */
export const COLLECTION_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const DEFAULT_COLLECTION = 'default';

export const CollectionSchema = z
  .string()
  .regex(COLLECTION_PATTERN, 'collection names are lowercase letters, digits, . _ - (at most 64)');
