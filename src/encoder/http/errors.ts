/**
 * The one error type of the encoder: an expected failure with an HTTP status and a client-facing
 * code. The app's error handler turns it into the envelope of src/core/contract/errors.ts; per-item
 * failures inside a batch are reported with the same code and message.
 */
export class EncoderError extends Error {
  override readonly name = 'EncoderError';
  readonly status: number;
  readonly code: string;
  /** Headers of the error answer (e.g. `WWW-Authenticate` on a 401). */
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: string,
    message: string,
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.code = code;
    this.headers = options?.headers ?? {};
  }
}

/** Any thrown value as an EncoderError; unexpected ones become a generic 500 (never echoed). */
export function asEncoderError(error: unknown): EncoderError {
  if (error instanceof EncoderError) return error;
  return new EncoderError(500, 'internal_error', 'the encoder failed unexpectedly', { cause: error });
}
