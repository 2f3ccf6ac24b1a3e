/**
 * What happens to a stack process's stdout and stderr: always kept (the last 2-4 MiB, for
 * `logs()` and for the error when a start fails), and then either nothing more (`capture`, the
 * default of tests and benches), written through to this process's own streams (`inherit`), or
 * written through line by line where a filter says so (`npm start` hides wrangler's access log
 * while it seeds the demo set).
 */
import type { Readable } from 'node:stream';

/** Decides, line by line, whether a line of a stack process is written to this process's stream. */
export type LineFilter = (line: string, stream: 'stdout' | 'stderr') => boolean;

/** `capture`: kept only; `inherit`: also written through; a function: written through where it says. */
export type LogMode = 'capture' | 'inherit' | LineFilter;

const KEEP_MAX = 4_000_000;
const KEEP_AFTER_TRIM = 2_000_000;

/** Reads a child's two streams according to `mode`; returns what was kept so far. */
export function collectOutput(streams: { stdout: Readable; stderr: Readable }, mode: LogMode): () => string {
  let kept = '';
  for (const name of ['stdout', 'stderr'] as const) {
    const target = name === 'stdout' ? process.stdout : process.stderr;
    let partial = '';
    streams[name].on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      kept += text;
      if (kept.length > KEEP_MAX) kept = kept.slice(-KEEP_AFTER_TRIM);
      if (mode === 'inherit') target.write(text);
      else if (typeof mode === 'function') {
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) if (mode(line, name)) target.write(`${line}\n`);
      }
    });
    streams[name].on('end', () => {
      if (typeof mode === 'function' && partial && mode(partial, name)) target.write(`${partial}\n`);
      partial = '';
    });
  }
  return () => kept;
}
