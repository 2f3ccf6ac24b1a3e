/**
 * The footer: the default model (id, version, placement, evaluation figures), the index's counts
 * (GET /v1/index/stats, which needs the admin token or an admin key) and the encoder's health (GET /healthz).
 */
import type { HealthResponse } from '../core/contract/api-schemas';
import type { IndexStats } from '../core/contract/ingest-schemas';
import { api, describeFailure, savedToken } from './api';
import { byId } from './dom';

const pct = (v: number | undefined) => (v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);

export async function refreshStatus(): Promise<void> {
  const model = byId('st-model');
  const evaluation = byId('st-eval');
  const index = byId('st-index');
  const encoder = byId('st-encoder');
  try {
    const { body } = await api<HealthResponse>('/healthz');
    const m = body.default_model;
    model.textContent = `${m.id} ${m.version} · ${m.placement === 'edge' ? '엣지 · edge' : '함수 · function'}`;
    const e = m.evaluation;
    evaluation.textContent = `T→I R@1 ${pct(e['t2i_recall@1'])}, R@10 ${pct(e['t2i_recall@10'])} · 색 zero-shot ${pct(e.zero_shot_colour_accuracy)}`;
    const enc = body.encoder;
    encoder.dataset.state = enc.status;
    encoder.textContent =
      enc.status === 'ok'
        ? `정상 · ok (${enc.provider ? `${enc.provider}, ` : ''}${enc.latency_ms ?? '?'} ms)`
        : `연결 안 됨 · ${enc.status}${enc.message ? `: ${enc.message}` : ''}`;
  } catch (error) {
    model.textContent = describeFailure(error);
  }
  if (!savedToken.get()) {
    index.textContent =
      '관리자 토큰(또는 admin 키)을 저장하면 표시 · save the admin token (or an admin key) to see counts';
    return;
  }
  try {
    const collection = byId<HTMLInputElement>('collection').value.trim() || 'default';
    const { body } = await api<IndexStats>(`/v1/index/stats?collection=${encodeURIComponent(collection)}`);
    index.textContent = `${collection}: 색인 ${body.counts.indexed} indexed · 대기 ${body.counts.pending} pending · 실패 ${body.counts.failed} failed · ${body.segments} segments`;
  } catch (error) {
    index.textContent = describeFailure(error);
  }
}
