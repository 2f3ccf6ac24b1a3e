/**
 * Request ids: every answer of the Worker carries `X-Request-Id`; a well-formed id sent by the
 * caller is kept, any other (absent, too long, other characters) is replaced by a fresh UUID.
 * Well-formed is what Hono's request-id middleware keeps, with our length limit: 1 to 128
 * characters of A-Z a-z 0-9 _ - =. The Worker sends the id to the encoder on every call and puts
 * it into the queue messages of what the request accepted; the encoder logs it. Runtime-free.
 */
export const REQUEST_ID_HEADER = 'X-Request-Id';
export const REQUEST_ID_MAX_CHARS = 128;
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9_=-]{1,128}$/;

export const isWellFormedRequestId = (id: string | null | undefined): id is string =>
  typeof id === 'string' && REQUEST_ID_PATTERN.test(id);
