/**
 * Every request limit of the public API in one place: the Worker enforces them, the OpenAPI
 * document and docs/ quote them.
 */

export const LIMITS = {
  /**
   * Bytes of any /v1 request body: an image (10 MiB) as an upload with multipart overhead, or as
   * base64 inside JSON (4/3 of its size, about 13.4 MiB).
   */
  bodyBytes: 14 * 1024 * 1024,
  /** Characters of one query text or caption (the text tower then truncates to its token limit). */
  textChars: 1000,
  captions: 64,
  k: 100,
  gridSide: 8,
  /** Bytes of one uploaded image. */
  imageBytes: 10 * 1024 * 1024,
  /** Bytes of a JSON body. */
  jsonBytes: 256 * 1024,
  idChars: 256,
  urlChars: 2048,
  filterFields: 16,
  filterValues: 32,
  /** Positive parts of a composite search (POST /v1/search `positive`). */
  compositeParts: 8,
  /** Negative texts of a composite search (`negative`). */
  compositeNegatives: 4,
  /**
   * Positive parts the encoder must embed (`image_url`, `image_base64`): each is an encoder call,
   * charged like a search by image. Indexed `image_id` parts read their stored vector and cost none.
   */
  compositeEncoderImages: 2,
  /** Upper bound of a composite part's `weight` (every weight is > 0). */
  compositeWeight: 10,
} as const;

/**
 * Decoded pixels (width x height of the first frame) the encoder accepts per image: images to
 * index may be large photos; a query image (search by image, score, patches) needs only the
 * model's input size, so its limit is lower (4096 x 4096, about 50 MB of RGB while decoding)
 * and a hostile query cannot make the encoder decode 40 megapixels. Over either: 413
 * `too_many_pixels`. The encoder's ENCODER_MAX_PIXELS and ENCODER_MAX_QUERY_PIXELS default to these.
 */
export const PIXEL_LIMITS = {
  index: 40_000_000,
  query: 4096 * 4096,
} as const;

/** Limits of the ingest API (webhook, uploads). */
export const INGEST_LIMITS = {
  /** Events in one webhook call (one Queue batch at most). */
  events: 100,
  /** Bytes of a webhook body. */
  bodyBytes: 256 * 1024,
  /** Bytes of one image's metadata as JSON. */
  metadataBytes: 4096,
  /** Fields of one image's metadata. */
  metadataFields: 32,
  /** Characters of a caption kept with an image. */
  captionChars: 1000,
} as const;

/** Limits of POST /v1/embeddings (OpenAI-compatible, so larger texts and batches). */
export const EMBEDDING_LIMITS = {
  /** Bytes of a POST /v1/embeddings body. */
  bodyBytes: 1024 * 1024,
  /** Texts in one request. */
  inputs: 256,
  /** Characters of one text; longer token sequences are truncated to the model's max length. */
  textChars: 8192,
} as const;
