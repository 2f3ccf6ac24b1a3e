/**
 * The page's one HTTP client: calls the Worker's /v1 API on the same origin, turns the error
 * envelope `{ error: { code, message } }` (or a network failure) into an ApiFailure, and keeps
 * the user's credential (an API key or the admin token) in this tab's sessionStorage. A saved
 * credential goes with every API call: a Worker in AUTH_MODE=keys answers nothing without one.
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

const TOKEN_KEY = 'koclip.token';

/** The saved credential: an API key (`koclip_…`) or the admin token; '' when none. */
export const savedToken = {
  get: (): string => sessionStorage.getItem(TOKEN_KEY) ?? '',
  set: (token: string) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** `init`'s headers with the saved credential, when there is one. */
function withToken(init: RequestInit): Headers {
  const headers = new Headers(init.headers);
  const token = savedToken.get();
  if (token) headers.set('authorization', `Bearer ${token}`);
  return headers;
}

/** Calls `path` and parses a JSON answer; throws ApiFailure on an error status or no answer. */
export async function api<T>(path: string, init: RequestInit = {}): Promise<JsonAnswer<T>> {
  const headers = withToken(init);
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

/** Object URLs this module made for an <img>, revoked when the image is replaced or released. */
const owned = new WeakMap<HTMLImageElement, string>();
/** The latest request per <img>: an answer to an older one is dropped. */
const latest = new WeakMap<HTMLImageElement, unknown>();

function release(img: HTMLImageElement): void {
  const url = owned.get(img);
  if (url) URL.revokeObjectURL(url);
  owned.delete(img);
}

/**
 * Shows `source` in `img`: a picked file or fetched blob as an object URL, a static asset by its
 * path, and an image the Worker serves (/v1/images/{id}/content) fetched with the saved
 * credential into an object URL when one is saved (an <img src> cannot carry the header, and a
 * Worker in AUTH_MODE=keys refuses it without). The object URL it replaces is revoked.
 */
export function showImage(img: HTMLImageElement, source: string | Blob): void {
  const mine = {};
  latest.set(img, mine);
  const set = (src: string, own: boolean) => {
    release(img);
    if (own) owned.set(img, src);
    img.src = src;
  };
  if (typeof source !== 'string') {
    set(URL.createObjectURL(source), true);
    return;
  }
  if (!source.startsWith('/v1/') || !savedToken.get()) {
    set(source, false);
    return;
  }
  void fetch(source, { headers: withToken({}) })
    .then(async (response) => {
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const blob = await response.blob();
      if (latest.get(img) === mine) set(URL.createObjectURL(blob), true);
    })
    .catch((error) => {
      if (latest.get(img) !== mine) return;
      release(img);
      img.removeAttribute('src');
      img.title = `이미지를 불러오지 못했습니다 · The image could not be loaded (${String(error)})`;
    });
}

/** Revokes the object URLs of the images under `root` (before it is emptied). */
export function releaseImages(root: ParentNode): void {
  for (const img of root.querySelectorAll('img')) {
    latest.delete(img);
    release(img);
  }
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
    unauthorized: 'API 키나 관리자 토큰이 없거나 올바르지 않습니다 ("이미지 추가" 탭에서 저장)',
    key_revoked: 'API 키가 폐기되었습니다',
    key_expired: 'API 키가 만료되었습니다',
    insufficient_scope: 'API 키에 이 기능의 권한(scope)이 없습니다',
    collection_forbidden: 'API 키로 이 컬렉션을 쓸 수 없습니다',
    origin_not_allowed: '이 사이트에서는 이 API 키를 쓸 수 없습니다',
    rate_limited: '요청이 너무 많습니다. 잠시 후 다시 시도하세요',
    quota_exceeded: '오늘의 사용량을 모두 썼습니다 (00:00 UTC에 초기화)',
    admin_not_configured: '서버에 관리자 토큰이 설정되지 않았습니다',
    image_not_found: '이미지를 찾을 수 없습니다',
    image_too_large: '이미지가 너무 큽니다',
    unsupported_format: '지원하지 않는 이미지 형식입니다',
    image_fetch_failed: '이미지 URL을 가져올 수 없습니다 (주소를 확인하세요)',
    invalid_request: '요청이 올바르지 않습니다',
    network_error: '서버에 연결할 수 없습니다',
  };
  const ko = korean[error.code] ?? '요청을 처리하지 못했습니다';
  return `${ko} · ${error.code}: ${error.message}`;
}
