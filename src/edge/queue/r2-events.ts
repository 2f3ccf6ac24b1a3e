/**
 * R2 event notifications of IMAGES_BUCKET, in the platform's message shape
 * `{ account, action, bucket, object: { key, size, eTag }, eventTime }`, and the rule that turns an
 * object key into an image: `<R2_EVENTS_PREFIX><collection>/<id>`, or `<R2_EVENTS_PREFIX><id>` for
 * the `default` collection, the id percent-decoded. Keys outside the prefix are not ours.
 */
import { z } from 'zod';
import { CollectionSchema, DEFAULT_COLLECTION, ImageIdSchema } from '../../core/contract/ids';
import { type ImageMetadata, ImageMetadataSchema } from '../../core/contract/ingest-schemas';
import { INGEST_LIMITS } from '../../core/contract/limits';

const UPSERT_ACTIONS = new Set(['PutObject', 'CopyObject', 'CompleteMultipartUpload']);
const DELETE_ACTIONS = new Set(['DeleteObject', 'LifecycleDeletion']);

/** The platform's notification (extra fields, such as `copySource`, are allowed and ignored). */
export const R2EventSchema = z.object({
  account: z.string(),
  action: z.string(),
  bucket: z.string(),
  object: z.object({
    key: z.string().min(1),
    size: z.number().optional(),
    eTag: z.string().optional(),
  }),
  eventTime: z.string(),
});
export type R2Event = z.infer<typeof R2EventSchema>;

/** What an event means for the index, or why it is ignored. */
export type R2EventTarget =
  | { op: 'upsert' | 'delete'; collection: string; id: string; key: string }
  | { ignore: string };

/** The image an event names under `prefix` (an empty prefix turns R2 events off). */
export function r2EventTarget(event: R2Event, prefix: string | undefined): R2EventTarget {
  const op = UPSERT_ACTIONS.has(event.action) ? 'upsert' : DELETE_ACTIONS.has(event.action) ? 'delete' : null;
  if (!op) return { ignore: `action ${event.action}` };
  const { key } = event.object;
  if (!prefix) return { ignore: 'R2_EVENTS_PREFIX is not set' };
  if (!key.startsWith(prefix)) return { ignore: `key outside ${prefix}` };
  const rest = key.slice(prefix.length);
  const slash = rest.indexOf('/');
  const collection = slash === -1 ? DEFAULT_COLLECTION : rest.slice(0, slash);
  const rawId = slash === -1 ? rest : rest.slice(slash + 1);
  if (!CollectionSchema.safeParse(collection).success)
    return { ignore: `invalid collection '${collection}'` };
  let id: string;
  try {
    id = decodeURIComponent(rawId);
  } catch {
    return { ignore: 'the id is not valid percent-encoding' };
  }
  if (!ImageIdSchema.safeParse(id).success) return { ignore: `invalid image id '${rawId.slice(0, 64)}'` };
  return { op, collection, id, key };
}

/**
 * Metadata and caption of an object put under the prefix: its R2 custom metadata (`caption` is the
 * caption, `sha256` is our content hash and not metadata). Metadata past the limits is dropped.
 */
export function objectMetadata(custom: Record<string, string> | undefined): {
  metadata: ImageMetadata;
  caption?: string;
} {
  const { caption, sha256: _sha, ...rest } = custom ?? {};
  const parsed = ImageMetadataSchema.safeParse(rest);
  if (!parsed.success) console.warn('R2 event: custom metadata past the limits is ignored');
  return {
    metadata: parsed.success ? parsed.data : {},
    ...(caption ? { caption: caption.slice(0, INGEST_LIMITS.captionChars) } : {}),
  };
}
