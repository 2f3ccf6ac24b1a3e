/** Text→Patch: a rows x cols grid over an image, each cell shaded by how well it matches a text. */
import type { PatchesResponse } from '../core/contract/api-schemas';
import { describeFailure, postJson, showImage } from './api';
import { byId, fmt, h, setStatus } from './dom';
import { chooseImage, exclusive } from './image-source';

export function setUpPatches(): { useImage: (id: string, collection: string) => void } {
  const form = byId<HTMLFormElement>('patches-form');
  const idInput = byId<HTMLInputElement>('patches-image-id');
  const fileInput = byId<HTMLInputElement>('patches-file');
  const status = byId('patches-status');
  let collection = 'default';
  exclusive(idInput, fileInput, () => {});

  function render(answer: PatchesResponse, src: string | Blob, label: string, text: string): void {
    const img = byId<HTMLImageElement>('patches-image');
    showImage(img, src);
    img.alt = label;
    const grid = byId('patches-grid');
    grid.style.gridTemplateColumns = `repeat(${answer.cols}, 1fr)`;
    grid.style.gridTemplateRows = `repeat(${answer.rows}, 1fr)`;
    const flat = answer.scores.flat();
    const lo = Math.min(...flat);
    const hi = Math.max(...flat);
    const cells = answer.scores.flatMap((row, r) =>
      row.map((score, c) => {
        const t = hi > lo ? (score - lo) / (hi - lo) : 1;
        const best = r === answer.best.row && c === answer.best.col;
        const cell = h(
          'div',
          {
            class: best ? 'cell best' : 'cell',
            role: 'img',
            'aria-label': `${r + 1}행 ${c + 1}열 · row ${r + 1} col ${c + 1}: ${fmt(score)}`,
            title: `${fmt(score)} (p=${fmt(answer.probs[r]?.[c] ?? 0)})`,
          },
          h('span', { class: 'cell-score', text: fmt(score, 2) }),
        );
        // Dark over poor matches, clear over good ones: the best cell shows the image itself.
        cell.style.background = `rgba(0, 0, 0, ${(0.75 * (1 - t)).toFixed(3)})`;
        return cell;
      }),
    );
    grid.replaceChildren(...cells);
    byId('patches-caption').textContent =
      `"${text}": 가장 높은 칸 · best cell row ${answer.best.row + 1}, col ${answer.best.col + 1} (${fmt(answer.best.score)})`;
    byId('patches-result').hidden = false;
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = byId<HTMLInputElement>('patches-text').value.trim();
    if (!text) return setStatus(status, 'error', '찾을 텍스트를 입력하세요 · Enter a text');
    setStatus(status, 'busy', '계산 중… · Scoring cells…');
    try {
      const image = await chooseImage(idInput, fileInput, collection, true);
      if (!image) return setStatus(status, 'error', '이미지를 고르세요 · Choose an image first');
      const rows = Number(byId<HTMLSelectElement>('patches-rows').value);
      const cols = Number(byId<HTMLSelectElement>('patches-cols').value);
      const { body } = await postJson<PatchesResponse>('/v1/patches', { ...image.fields, text, rows, cols });
      render(body, image.src, image.label, text);
      setStatus(status, 'info', `${rows}×${cols} 칸 완료 · ${rows}×${cols} cells scored`);
    } catch (error) {
      setStatus(status, 'error', describeFailure(error));
    }
  });

  return {
    useImage(id, coll) {
      collection = coll;
      idInput.value = id;
      fileInput.value = '';
    },
  };
}
