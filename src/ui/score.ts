/**
 * Image→Text: captions scored against an image (softmax probabilities as a Chart.js bar chart
 * and as a table), the `이것은 {} 이다.` template on or off, and the edge cache's X-Cache.
 */

import { BarController, BarElement, CategoryScale, Chart, LinearScale, Tooltip } from 'chart.js';
import type { ScoreResponse } from '../core/contract/api-schemas';
import { describeFailure, imageSrc, postJson, showImage } from './api';
import { byId, fmt, h, setStatus } from './dom';
import { chooseImage, exclusive } from './image-source';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip);
Chart.defaults.font.size = 14;
Chart.defaults.color = '#1b1f24';

export const PROMPT_TEMPLATE = '이것은 {} 이다.';

export function setUpScore(): { useImage: (id: string, collection: string) => void } {
  const form = byId<HTMLFormElement>('score-form');
  const idInput = byId<HTMLInputElement>('score-image-id');
  const fileInput = byId<HTMLInputElement>('score-file');
  const preview = byId<HTMLImageElement>('score-preview');
  const status = byId('score-status');
  const result = byId('score-result');
  let collection = 'default';
  let chart: Chart<'bar'> | undefined;

  const showPreview = () => {
    const file = fileInput.files?.[0];
    const id = idInput.value.trim();
    preview.hidden = !file && !id;
    if (file) showImage(preview, file);
    else if (id) showImage(preview, imageSrc(id, collection));
    preview.alt = file ? file.name : id;
  };
  exclusive(idInput, fileInput, showPreview);

  function draw(answer: ScoreResponse): void {
    const labels = answer.results.map((r) => r.caption);
    const data = answer.results.map((r) => r.prob);
    const canvas = byId<HTMLCanvasElement>('score-chart');
    chart?.destroy();
    chart = new Chart(canvas, {
      type: 'bar',
      data: { labels, datasets: [{ label: '확률 · probability', data, backgroundColor: '#1d5fbf' }] },
      options: {
        indexAxis: 'y',
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: { x: { min: 0, max: 1 } },
        plugins: { tooltip: { callbacks: { label: (c) => `${fmt(c.parsed.x ?? 0)}` } } },
      },
    });
    canvas.parentElement?.style.setProperty('height', `${Math.max(140, labels.length * 36 + 40)}px`);
    byId('score-table').replaceChildren(
      ...answer.results.map((r, i) =>
        h(
          'tr',
          i === answer.best ? { class: 'best' } : {},
          h('td', { text: r.caption }),
          h('td', { text: `${(r.prob * 100).toFixed(1)}%` }),
          h('td', { text: fmt(r.logit, 2) }),
        ),
      ),
    );
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const captions = byId<HTMLTextAreaElement>('captions')
      .value.split('\n')
      .map((c) => c.trim())
      .filter(Boolean);
    if (!captions.length)
      return setStatus(status, 'error', '캡션을 하나 이상 입력하세요 · Enter at least one caption');
    setStatus(status, 'busy', '계산 중… · Scoring…');
    try {
      const image = await chooseImage(idInput, fileInput, collection, false);
      if (!image) return setStatus(status, 'error', '이미지를 고르세요 · Choose an image first');
      const template = byId<HTMLInputElement>('use-template').checked;
      const { body, headers } = await postJson<ScoreResponse>('/v1/score', {
        ...image.fields,
        captions,
        ...(template ? { prompt_template: PROMPT_TEMPLATE } : {}),
      });
      const cache = headers.get('x-cache') ?? 'MISS';
      const tier = headers.get('x-cache-tier');
      const badge = byId('cache-badge');
      badge.textContent = `X-Cache: ${cache}${tier ? ` (${tier})` : ''}`;
      badge.dataset.cache = cache;
      const best = body.results[body.best];
      byId('score-best').textContent = best ? `가장 잘 맞는 캡션 · Best: ${best.caption}` : '';
      result.hidden = false;
      draw(body);
      setStatus(
        status,
        'info',
        `캡션 ${captions.length}개 점수 완료 · Scored ${captions.length} captions (${cache})`,
      );
    } catch (error) {
      setStatus(status, 'error', describeFailure(error));
    }
  });

  return {
    useImage(id, coll) {
      collection = coll;
      idInput.value = id;
      fileInput.value = '';
      showPreview();
    },
  };
}
