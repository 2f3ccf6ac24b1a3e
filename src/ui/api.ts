/**
 * The page's one HTTP client: calls the Worker's /v1 API on the same origin, turns the error
 * envelope `{ error: { code, message } }` (or a network failure) into an ApiFailure, and keeps
 * the admin token in this tab's sessionStorage.
 */

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface JsonAnswer<T> {
  body: T;
  headers: Headers;
}

const TOKEN_KEY = 'koclip.adminToken';

export const adminToken = {
  get: (): string => sessionStorage.getItem(TOKEN_KEY) ?? '',
  set: (token: string) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** Calls `path` and parses a JSON answer; throws ApiFailure on an error status or no answer. */
export async function api<T>(
  path: string,
  init: RequestInit & { admin?: boolean } = {},
): Promise<JsonAnswer<T>> {
  const headers = new Headers(init.headers);
  if (init.admin) headers.set('authorization', `Bearer ${adminToken.get()}`);
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers });
  } catch {
    throw new ApiFailure(0, 'network_error', '서버에 연결할 수 없습니다 · The server could not be reached');
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiFailure(
      response.status,
      error?.code ?? 'http_error',
      error?.message ?? `HTTP ${response.status}`,
    );
  }
  return { body: body as T, headers: response.headers };
}

/** POSTs a JSON body. */
export function postJson<T>(path: string, payload: unknown): Promise<JsonAnswer<T>> {
  return api<T>(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
}

const demoId = /^demo-\d{4}$/;

/**
 * Where the page shows an indexed image from: the demo set's PNGs are static assets
 * (/demo/images/<id>.png); other images are uploads, whose kept originals the Worker serves.
 */
export function imageSrc(id: string, collection: string): string {
  if (demoId.test(id) && collection === 'default') return `/demo/images/${id}.png`;
  return `/v1/images/${encodeURIComponent(id)}/content?collection=${encodeURIComponent(collection)}`;
}

/** A file as a `data:` URL (the JSON body form of an image the API takes). */
export function fileToDataUrl(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result as string);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** A user-facing line for a failure: Korean first, then the API's own code and message. */
export function describeFailure(error: unknown): string {
  if (!(error instanceof ApiFailure)) return `오류 · Error: ${String(error)}`;
  const korean: Record<string, string> = {
    index_empty: '색인이 비어 있습니다. 이미지를 추가하세요',
    encoder_unreachable: '이미지 인코더에 연결할 수 없습니다',
    encoder_timeout: '이미지 인코더가 응답하지 않습니다',
    encoder_error: '이미지 인코더 오류',
    encoder_not_configured: '이미지 인코더가 설정되지 않았습니다',
    unauthorized: '관리자 토큰이 올바르지 않습니다',
    admin_not_configured: '서버에 관리자 토큰이 설정되지 않았습니다',
    image_not_found: '이미지를 찾을 수 없습니다',
    image_too_large: '이미지가 너무 큽니다',
    unsupported_format: '지원하지 않는 이미지 형식입니다',
    invalid_request: '요청이 올바르지 않습니다',
    network_error: '서버에 연결할 수 없습니다',
  };
  const ko = korean[error.code] ?? '요청을 처리하지 못했습니다';
  return `${ko} · ${error.code}: ${error.message}`;
}
