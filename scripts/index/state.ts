/**
 * The resume file of the bulk CLI (`.koclip-index-state.json` beside the input by default): the
 * fingerprint of every event the service accepted, so that a re-run after Ctrl-C (or a crash)
 * sends only what is left. A fingerprint covers the image key, how many times that key came
 * before in the input, and everything sent (op, source, metadata, caption, file bytes), so an
 * item that changed since is sent again. Written atomically (temp file + rename).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export interface StateEntry {
  key: string;
  op: 'upsert' | 'delete';
  at: string;
}

interface StateFile {
  version: 1;
  url: string;
  input: string;
  updated_at: string;
  sent: Record<string, StateEntry>;
}

export class IndexState {
  private dirty = false;
  private constructor(
    readonly path: string | null,
    private data: StateFile,
  ) {}

  /** Loads `path` (a fresh state when missing, or when it was written for another service URL); null keeps nothing. */
  static open(path: string | null, url: string, input: string): IndexState {
    const fresh: StateFile = { version: 1, url, input, updated_at: new Date().toISOString(), sent: {} };
    if (!path || !existsSync(path)) return new IndexState(path, fresh);
    let data: StateFile;
    try {
      data = JSON.parse(readFileSync(path, 'utf8')) as StateFile;
    } catch (error) {
      throw new Error(
        `state file ${path} is not readable JSON (${(error as Error).message}); delete it to start over`,
      );
    }
    if (data.version !== 1 || typeof data.sent !== 'object') {
      throw new Error(`state file ${path} has an unknown format; delete it to start over`);
    }
    // Progress against another service says nothing about this one.
    if (data.url !== url) return new IndexState(path, { ...fresh });
    return new IndexState(path, data);
  }

  has(fingerprint: string): boolean {
    return fingerprint in this.data.sent;
  }

  get size(): number {
    return Object.keys(this.data.sent).length;
  }

  markSent(fingerprint: string, entry: Omit<StateEntry, 'at'>): void {
    this.data.sent[fingerprint] = { ...entry, at: new Date().toISOString() };
    this.dirty = true;
  }

  save(): void {
    if (!this.path || !this.dirty) return;
    this.data.updated_at = new Date().toISOString();
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.data)}\n`);
    renameSync(tmp, this.path);
    this.dirty = false;
  }
}

export function fingerprint(parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}
