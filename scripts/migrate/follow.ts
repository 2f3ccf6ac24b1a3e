/**
 * Following a migration: polls `GET .../migrations/{id}` until it leaves `copying`, showing the
 * service's own counts on the progress display (copied while the total is unknown, then indexed
 * of total, with failures, images/s and ETA), and the closing report with its exit code.
 * Stopping (timeout, Ctrl-C) only stops following: the migration goes on in the service.
 */
import type { Migration, ModelRef } from '../../src/core/contract/collection-schemas';
import { Stopped, sleep } from '../index/http';
import type { Progress } from '../index/progress';
import type { AdminApi } from './admin-api';

export interface FollowOptions {
  api: AdminApi;
  collection: string;
  /** The migration as last seen (the start's answer, or a first GET). */
  migration: Migration;
  pollIntervalMs: number;
  /** 0: follow until the migration leaves `copying`. */
  timeoutS: number;
  progress: Progress;
  /** Aborting stops following (Ctrl-C). */
  signal?: AbortSignal;
}

/** Why following ended, with the migration as last seen. */
export type FollowEnd = { end: 'settled' | 'timeout' | 'interrupted'; migration: Migration };

export async function followMigration(options: FollowOptions): Promise<FollowEnd> {
  const { api, collection, progress, signal } = options;
  const deadline = options.timeoutS ? Date.now() + options.timeoutS * 1000 : Number.POSITIVE_INFINITY;
  let migration = options.migration;
  // Already settled (a switched one in its rollback period, say): nothing to draw.
  if (migration.state !== 'copying') return { end: 'settled', migration };
  let phase: 'copying' | 'migrating' | undefined;
  const show = (m: Migration) => {
    // Until the old index has been read through only the copied count means anything.
    const next = m.total === null ? 'copying' : 'migrating';
    if (next !== phase) {
      progress.stop();
      progress.start(next, m.total);
      phase = next;
    }
    const etaS = m.state === 'switched' ? 0 : m.eta_s;
    progress.update(m.total === null ? m.copied : m.indexed, m.failed, { rate: m.images_per_s, etaS });
  };
  try {
    for (;;) {
      show(migration);
      if (migration.state !== 'copying') return { end: 'settled', migration };
      const left = deadline - Date.now();
      if (left <= 0) return { end: 'timeout', migration };
      await sleep(Math.min(options.pollIntervalMs, left), signal);
      migration = await api.migration(collection, migration.id);
    }
  } catch (error) {
    if (error instanceof Stopped) return { end: 'interrupted', migration };
    throw error;
  } finally {
    progress.stop();
  }
}

export const modelName = (ref: ModelRef) => `${ref.model}@${ref.version}`;

const failureLines = (m: Migration): string[] =>
  m.failed
    ? [
        `failures (${m.failed}${m.failures.length < m.failed ? `, first ${m.failures.length} listed` : ''}):`,
        ...m.failures.map((f) => `  ${f.id}: ${f.code}: ${f.message}`),
      ]
    : [];

const counts = (m: Migration) =>
  `${m.total ?? '?'} image(s) to move: copied ${m.copied}, indexed ${m.indexed}, pending ${m.pending}, failed ${m.failed}`;

/** The closing report of a follow and the CLI's exit code (0 settled, 1 failed or timed out, 130 interrupted). */
export function describeEnd(
  { end, migration: m }: FollowEnd,
  collection: string,
  timeoutS: number,
): { text: string; code: number } {
  const followAgain = `npm run migrate -- ${collection} --follow ${m.id}`;
  if (end === 'interrupted') {
    return {
      text: `stopped following: migration ${m.id} goes on in the service (${m.state}; ${counts(m)})\nfollow it again: ${followAgain}`,
      code: 130,
    };
  }
  if (end === 'timeout') {
    return {
      text: `timed out after ${timeoutS} s: migration ${m.id} is still ${m.state} (${counts(m)})\nit goes on; follow it again: ${followAgain}`,
      code: 1,
    };
  }
  const from = modelName(m.from);
  const to = modelName(m.to);
  const lines: string[] = [];
  let code = 0;
  switch (m.state) {
    case 'switched':
      lines.push(
        `switched: ${collection} reads ${to} (was ${from}) since ${m.switched_at ?? '?'}; ${counts(m)}, ${m.images_per_s.toFixed(1)} img/s`,
        m.rollback_until
          ? `rollback possible until ${m.rollback_until}: npm run migrate -- ${collection} --rollback ${m.id}`
          : 'no rollback period',
      );
      break;
    case 'failed':
      lines.push(
        `failed: migration ${m.id} stopped: ${m.error ?? '(no reason given)'}; ${collection} stays on ${from}`,
      );
      code = 1;
      break;
    case 'rolled_back':
      lines.push(
        `rolled back: ${collection} reads ${from} again since ${m.finished_at ?? '?'} (migration ${m.id} to ${to})`,
      );
      break;
    case 'retired':
      lines.push(
        `complete: ${collection} reads ${to} since ${m.switched_at ?? '?'}; the old index (${from}) was retired at ${m.finished_at ?? '?'}`,
      );
      break;
    case 'copying':
      lines.push(`still copying: ${counts(m)}`);
      break;
  }
  return { text: [...lines, ...failureLines(m)].join('\n'), code };
}
