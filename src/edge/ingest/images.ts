/**
 * The admin image API's domain (./images-route.ts): uploads, status and deletes of one image, and
 * the stats of an index. An upload keeps the original in IMAGES_BUCKET (keyed by collection and
 * id, with its sha256) and goes through the same accept-and-queue path as a webhook, so the
 * consumer can skip re-embedding the same bytes.
 */
import {
  type ImageMetadata,
  ImageMetadataSchema,
  type ImageStatus,
  ImageStatusSchema,
  type IndexStats,
} from '../../core/contract/ingest-schemas';
import { type EmbeddingSpace, indexKey } from '../../core/contract/spaces';
import { sha256Hex } from '../../core/hash';
import type { Env } from '../env';
import { ApiError, describeIssues } from '../http/errors';
import { writerFor } from '../index';
import { checkUpload } from '../query/image';
import { imageObjectKey } from '../storage-keys';
import { ingestEvents } from './ingest';

export interface Upload {
  bytes: Uint8Array;
  /** The media type of the format the bytes were found to be. */
  contentType: string;
  metadata: ImageMetadata;
  caption?: string;
}

/** The multipart fields of an upload, as the route's validator hands them over. */
export interface UploadForm {
  image: File;
  metadata?: string | undefined;
  caption?: string | undefined;
}

/** An upload from raw bytes or a validated multipart form (size and format checked here). */
export async function uploadFrom(
  raw: { bytes: Uint8Array; contentType: string } | { form: UploadForm },
): Promise<Upload> {
  if ('bytes' in raw) {
    return { bytes: raw.bytes, contentType: checkUpload(raw.bytes, raw.contentType), metadata: {} };
  }
  const { image, metadata, caption } = raw.form;
  const bytes = new Uint8Array(await image.arrayBuffer());
  return {
    bytes,
    contentType: checkUpload(bytes, image.type),
    metadata: metadata === undefined ? {} : parseMetadata(metadata),
    ...(caption === undefined ? {} : { caption }),
  };
}

function parseMetadata(text: string): ImageMetadata {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'invalid_request', 'metadata: must be a JSON object');
  }
  const parsed = ImageMetadataSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ ...i, path: ['metadata', ...i.path] }));
    throw new ApiError(400, 'invalid_request', describeIssues(issues));
  }
  return parsed.data;
}

/** Keeps the original, accepts the upsert and queues it; answers the image's status (pending). */
export async function storeUpload(
  env: Env,
  space: EmbeddingSpace,
  collection: string,
  id: string,
  upload: Upload,
): Promise<ImageStatus> {
  const sha256 = await sha256Hex(upload.bytes);
  const key = imageObjectKey(collection, id);
  try {
    await env.IMAGES_BUCKET.put(key, upload.bytes, {
      httpMetadata: { contentType: upload.contentType },
      customMetadata: { sha256 },
    });
  } catch (cause) {
    throw new ApiError(503, 'storage_unavailable', 'the image could not be stored; retry', { cause });
  }
  await ingestEvents(env, [
    {
      op: 'upsert',
      collection,
      id,
      source: { r2_key: key },
      metadata: upload.metadata,
      ...(upload.caption === undefined ? {} : { caption: upload.caption }),
      content_sha256: sha256,
    },
  ]);
  return imageStatus(env, space, collection, id);
}

/** The status of one image in one index (404 `image_not_found`). */
export async function imageStatus(
  env: Env,
  space: EmbeddingSpace,
  collection: string,
  id: string,
): Promise<ImageStatus> {
  const record = await writerFor(env, indexKey(space, collection)).record(id);
  if (!record) throw notFound(space, collection, id);
  // The writer's view also says where the vector lives: not part of the public status.
  return ImageStatusSchema.parse(record);
}

/** Deletes an image from the index (applied at once) and its kept original; 404 when unknown. */
export async function deleteImage(
  env: Env,
  space: EmbeddingSpace,
  collection: string,
  id: string,
): Promise<{ id: string; collection: string; deleted: true }> {
  const [record, original] = await Promise.all([
    writerFor(env, indexKey(space, collection)).record(id),
    env.IMAGES_BUCKET.head(imageObjectKey(collection, id)),
  ]);
  if (!record && !original) throw notFound(space, collection, id);
  await ingestEvents(env, [{ op: 'delete', collection, id }]);
  return { id, collection, deleted: true };
}

const notFound = (space: EmbeddingSpace, collection: string, id: string) =>
  new ApiError(
    404,
    'image_not_found',
    `no image '${id}' in collection '${collection}' of ${space.model}@${space.version}`,
  );

/** The stats of one index; an index never written to has zero of everything. */
export async function indexStats(env: Env, space: EmbeddingSpace, collection: string): Promise<IndexStats> {
  const stats = await writerFor(env, indexKey(space, collection)).stats();
  return (
    stats ?? {
      collection,
      model: space.model,
      version: space.version,
      counts: { pending: 0, indexed: 0, failed: 0 },
      segments: 0,
      retired_segments: 0,
      bytes: 0,
      generation: 0,
      last_write: null,
      queue_lag_s: 0,
      reconciler: { reenqueued: 0, failed: 0 },
    }
  );
}
