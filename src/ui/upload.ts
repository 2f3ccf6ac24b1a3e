/**
 * Add images: the credential (an API key or the admin token, pasted by the user and kept in
 * sessionStorage; api.ts sends it with every call, not only these), uploads through
 * PUT /v1/images/{id}, and each image's state polled from GET /v1/images/{id} until it is
 * indexed or failed.
 */
import type { ImageStatus } from '../core/contract/ingest-schemas';
import { api, describeFailure, savedToken } from './api';
import { byId, h, setStatus } from './dom';

const POLL_MS = 700;
const POLL_LIMIT = 120;

export function setUpUpload(onIndexed: (id: string) => void, onToken: () => void): void {
  const tokenInput = byId<HTMLInputElement>('admin-token');
  const status = byId('upload-status');
  const rows = byId('uploads');
  tokenInput.value = savedToken.get();

  byId<HTMLFormElement>('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    savedToken.set(tokenInput.value.trim());
    setStatus(status, 'info', '토큰을 저장했습니다 (이 탭에만) · Token saved for this tab');
    onToken();
  });
  byId('token-clear').addEventListener('click', () => {
    savedToken.clear();
    tokenInput.value = '';
    setStatus(status, 'info', '토큰을 지웠습니다 · Token cleared');
    onToken();
  });

  function row(id: string): { state: HTMLElement; action: HTMLElement } {
    const state = h('td', { class: 'state', 'data-state': 'uploading', text: '업로드 중 · uploading' });
    const action = h('td');
    rows.append(h('tr', { 'data-id': id }, h('td', { text: id }), state, action));
    byId('uploads-table').hidden = false;
    return { state, action };
  }

  function show(cell: HTMLElement, s: ImageStatus): void {
    cell.dataset.state = s.state;
    const ko = { pending: '대기 중', indexed: '색인됨', failed: '실패' }[s.state];
    cell.textContent = `${ko} · ${s.state}${s.error ? ` (${s.error.code}: ${s.error.message})` : ''}`;
  }

  async function follow(id: string, collection: string, cells: ReturnType<typeof row>): Promise<void> {
    for (let i = 0; i < POLL_LIMIT; i++) {
      const { body } = await api<ImageStatus>(
        `/v1/images/${encodeURIComponent(id)}?collection=${encodeURIComponent(collection)}`,
      );
      show(cells.state, body);
      if (body.state !== 'pending') {
        if (body.state === 'indexed') {
          const find = h('button', {
            type: 'button',
            class: 'small',
            text: '검색에서 보기 · Show in search',
          });
          find.addEventListener('click', () => onIndexed(id));
          cells.action.replaceChildren(find);
        }
        return;
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  byId<HTMLFormElement>('upload-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!savedToken.get()) {
      setStatus(
        status,
        'error',
        '먼저 API 키(ingest)나 관리자 토큰을 저장하세요 · Save an API key (ingest scope) or the admin token first',
      );
      return;
    }
    const files = [...(byId<HTMLInputElement>('upload-files').files ?? [])];
    const collection = byId<HTMLInputElement>('upload-collection').value.trim() || 'default';
    const prefix = byId<HTMLInputElement>('upload-prefix').value.trim();
    const caption = byId<HTMLInputElement>('upload-caption').value.trim();
    setStatus(status, 'busy', `${files.length}개 업로드 중… · Uploading ${files.length}…`);
    let failed = 0;
    await Promise.all(
      files.map(async (file) => {
        const base = file.name
          .replace(/\.[^.]+$/, '')
          .toLowerCase()
          .replace(/[^a-z0-9_-]+/g, '-');
        const id = `${prefix}${base}`.slice(0, 200) || `${prefix}${Date.now()}`;
        const cells = row(id);
        const form = new FormData();
        form.set('image', file, file.name);
        if (caption) form.set('caption', caption);
        try {
          const { body } = await api<ImageStatus>(
            `/v1/images/${encodeURIComponent(id)}?collection=${encodeURIComponent(collection)}`,
            { method: 'PUT', body: form },
          );
          show(cells.state, body);
          await follow(id, collection, cells);
        } catch (error) {
          failed++;
          cells.state.dataset.state = 'failed';
          cells.state.textContent = describeFailure(error);
        }
      }),
    );
    if (failed) setStatus(status, 'error', `${failed}개 실패 · ${failed} failed (see the table)`);
    else setStatus(status, 'info', `업로드 완료 · ${files.length} uploaded`);
  });
}
