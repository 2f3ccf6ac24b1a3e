/**
 * Progress of the bulk CLI and the migration CLI on stderr: a cli-progress bar on a terminal
 * (done/total, images/s, ETA, failures), a plain line every few seconds otherwise (CI logs,
 * pipes), nothing when silent. Images/s and ETA are measured here unless the caller passes the
 * service's own (a migration's).
 */
import cliProgress from 'cli-progress';

/** A rate and an ETA measured elsewhere (null: unknown, or nothing left). */
export interface Measured {
  rate: number;
  etaS: number | null;
}

export interface Progress {
  /** `total` null: not known yet (shown as `?`). */
  start(label: string, total: number | null): void;
  update(done: number, failed: number, measured?: Measured): void;
  /** A line above the bar (a retry, a warning). */
  note(line: string): void;
  stop(): void;
}

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

const formatEta = (s: number) =>
  !Number.isFinite(s)
    ? '?'
    : s >= 3600
      ? `${Math.floor(s / 3600)}h${Math.round((s % 3600) / 60)}m`
      : s >= 60
        ? `${Math.floor(s / 60)}m${Math.round(s % 60)}s`
        : `${Math.round(s)}s`;

class Rates {
  private t0 = performance.now();
  private first = 0;
  reset(done = 0) {
    this.t0 = performance.now();
    this.first = done;
  }
  /** Images/s since start, and seconds left at that rate (or as measured elsewhere). */
  of(done: number, total: number | null, measured?: Measured): { rate: number; eta: number } {
    if (measured) {
      const eta = measured.etaS ?? (total !== null && done >= total ? 0 : Number.POSITIVE_INFINITY);
      return { rate: measured.rate, eta };
    }
    if (total === null) return { rate: 0, eta: Number.POSITIVE_INFINITY };
    const s = (performance.now() - this.t0) / 1000;
    const rate = s > 0 ? (done - this.first) / s : 0;
    return { rate, eta: rate > 0 ? (total - done) / rate : Number.POSITIVE_INFINITY };
  }
}

export function createProgress(
  mode: ProgressMode = 'auto',
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  const resolved = mode === 'auto' ? (stream.isTTY ? 'bar' : 'lines') : mode;
  if (resolved === 'none') return { start() {}, update() {}, note() {}, stop() {} };
  return resolved === 'bar' ? new BarProgress(stream) : new LineProgress(stream);
}

class BarProgress implements Progress {
  private bar: cliProgress.SingleBar | undefined;
  private rates = new Rates();
  private total: number | null = 0;
  constructor(private readonly stream: NodeJS.WriteStream) {}

  start(label: string, total: number | null) {
    this.stop();
    this.total = total;
    this.rates.reset();
    this.bar = new cliProgress.SingleBar(
      {
        stream: this.stream,
        format: `${label.padEnd(9)} [{bar}] {value}/{of} | {rate} img/s | ETA {eta_s} | failed {failed}`,
        barsize: 30,
        hideCursor: true,
        etaBuffer: 50,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    // An unknown total keeps the bar empty.
    this.bar.start(total ?? Number.MAX_SAFE_INTEGER, 0, {
      of: total ?? '?',
      rate: '0.0',
      eta_s: '?',
      failed: 0,
    });
  }

  update(done: number, failed: number, measured?: Measured) {
    const { rate, eta } = this.rates.of(done, this.total, measured);
    this.bar?.update(done, { rate: rate.toFixed(1), eta_s: formatEta(eta), failed });
  }

  note(line: string) {
    if (!this.bar) return void this.stream.write(`${line}\n`);
    // Clear the bar's line, write the note, let the bar redraw below it.
    this.stream.write(`\r\x1b[2K${line}\n`);
    this.bar.render();
  }

  stop() {
    this.bar?.stop();
    this.bar = undefined;
  }
}

class LineProgress implements Progress {
  private label = '';
  private total: number | null = 0;
  private last = 0;
  private lastDone = -1;
  private done = 0;
  private failed = 0;
  private measured: Measured | undefined;
  private rates = new Rates();
  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly everyMs = 2000,
  ) {}

  start(label: string, total: number | null) {
    this.label = label;
    this.total = total;
    this.done = 0;
    this.failed = 0;
    this.lastDone = -1;
    this.measured = undefined;
    this.last = performance.now();
    this.rates.reset();
    this.stream.write(`${label}: 0/${total ?? '?'}\n`);
  }

  update(done: number, failed: number, measured?: Measured) {
    this.done = done;
    this.failed = failed;
    this.measured = measured;
    const now = performance.now();
    if (now - this.last >= this.everyMs || (done === this.total && this.lastDone !== done)) this.print(now);
  }

  private print(now: number) {
    this.last = now;
    this.lastDone = this.done;
    const { rate, eta } = this.rates.of(this.done, this.total, this.measured);
    const of =
      this.total === null
        ? '?'
        : `${this.total} (${this.total ? Math.floor((100 * this.done) / this.total) : 100}%)`;
    this.stream.write(
      `${this.label}: ${this.done}/${of} ${rate.toFixed(1)} img/s ETA ${formatEta(eta)} failed ${this.failed}\n`,
    );
  }

  note(line: string) {
    this.stream.write(`${line}\n`);
  }

  stop() {
    if (this.total !== 0 && this.lastDone !== this.done) this.print(performance.now());
    this.total = 0;
  }
}
