/**
 * Bulk indexing CLI:
 *
 *   npm run index -- <folder | urls.txt | items.jsonl> [options]
 *
 * - a folder: every .png/.jpg/.jpeg/.webp/.gif below it is uploaded (`PUT /v1/images/:id`); the id
 *   is its path below the folder without the extension (whitespace becomes `_`);
 * - urls.txt: one URL per line, or `id<TAB>url` (id defaults to the hex SHA-256 of the URL);
 *   sent as signed webhooks (`POST /v1/webhooks/index`), up to 100 events per call;
 * - items.jsonl: one `{ "id", "image_url" | "file" | "r2_key", "metadata"?, "caption"?,
 *   "collection"?, "op"? }` per line (`op: "delete"` with id [and collection] deletes); URLs and
 *   R2 keys go by webhook, files (relative to the .jsonl) by upload.
 *
 * Options: --url (KOCLIP_URL, http://127.0.0.1:8787), --collection, --concurrency N (8),
 * --rate N requests/s (no limit), --batch N events per webhook (100), --token (ADMIN_TOKEN),
 * --secret (WEBHOOK_SECRET; both default to the repository's .dev.vars), --wait,
 * --wait-timeout S (900; the images still pending then are listed by id), --state FILE (.koclip-index-state.json beside the input), --no-state,
 * --skip-indexed, --retries N (8), --timeout S (60), --progress auto|bar|lines|none.
 * Exit: 0 all done, 1 failures or still pending, 2 bad input or options (nothing sent),
 * 130 interrupted (progress saved; the same command resumes).
 */
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readDevVars } from './dev-vars';
import { InputError, loadInput } from './inputs';
import { createProgress, type ProgressMode } from './progress';
import { Fatal, formatSummary, runIndex } from './run';
import { IndexState } from './state';

export const STATE_FILE = '.koclip-index-state.json';

function usage(message?: string): never {
  if (message) process.stderr.write(`error: ${message}\n`);
  process.stderr.write(
    'usage: npm run index -- <folder | urls.txt | items.jsonl> [--url URL] [--collection NAME] [--concurrency N]\n' +
      '         [--rate N] [--batch N] [--token T] [--secret S] [--wait] [--wait-timeout S] [--state FILE | --no-state]\n' +
      '         [--skip-indexed] [--retries N] [--timeout S] [--progress auto|bar|lines|none]\n',
  );
  process.exit(2);
}

function positiveInt(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) usage(`--${name} must be an integer >= ${min}`);
  return n;
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        collection: { type: 'string' },
        concurrency: { type: 'string' },
        rate: { type: 'string' },
        batch: { type: 'string' },
        token: { type: 'string' },
        secret: { type: 'string' },
        wait: { type: 'boolean', default: false },
        'wait-timeout': { type: 'string' },
        state: { type: 'string' },
        'no-state': { type: 'boolean', default: false },
        'skip-indexed': { type: 'boolean', default: false },
        retries: { type: 'string' },
        timeout: { type: 'string' },
        progress: { type: 'string', default: 'auto' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  }
  try {
    parsed = parse();
  } catch (error) {
    usage((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) usage();
  if (positionals.length !== 1) usage('give exactly one input: a folder, a urls.txt or an items.jsonl');
  const input = resolve(positionals[0] as string);
  const mode = values.progress as ProgressMode;
  if (!['auto', 'bar', 'lines', 'none'].includes(mode)) usage('--progress is auto, bar, lines or none');
  const rate = values.rate === undefined ? 0 : Number(values.rate);
  if (!Number.isFinite(rate) || rate < 0) usage('--rate must be a number of requests per second');
  const vars = readDevVars();
  const url = values.url ?? process.env.KOCLIP_URL ?? 'http://127.0.0.1:8787';
  if (!/^https?:\/\//.test(url)) usage('--url must be an http(s) URL');
  const token = values.token ?? process.env.ADMIN_TOKEN ?? vars.ADMIN_TOKEN;
  const secretList = values.secret ?? process.env.WEBHOOK_SECRET ?? vars.WEBHOOK_SECRET;
  const secrets = secretList
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const statePath = values['no-state'] ? null : resolve(values.state ?? join(dirname(input), STATE_FILE));

  let items: ReturnType<typeof loadInput>;
  try {
    items = loadInput(input, { collection: values.collection, ignore: statePath ? [statePath] : [] });
  } catch (error) {
    if (error instanceof InputError) {
      process.stderr.write(`error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  let state: IndexState;
  try {
    state = IndexState.open(statePath, url.replace(/\/+$/, ''), input);
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    process.exit(2);
  }
  const uploads = items.filter((i) => i.kind === 'upload').length;
  process.stderr.write(
    `indexing ${items.length} item(s) from ${positionals[0]} into ${url} (${uploads} upload(s), ${items.length - uploads} webhook event(s))` +
      `${state.size ? `; ${statePath} has ${state.size} already sent` : ''}\n`,
  );

  const controller = new AbortController();
  let interrupts = 0;
  process.on('SIGINT', () => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write(
        '\ninterrupted: finishing the requests in flight and saving progress (Ctrl-C again to quit now)\n',
      );
      controller.abort();
    } else {
      state.save();
      process.stderr.write(`progress saved in ${statePath}\n`);
      process.exit(130);
    }
  });

  try {
    const summary = await runIndex(items, {
      url,
      token,
      secrets,
      concurrency: positiveInt('concurrency', values.concurrency, 8),
      rate,
      batchSize: positiveInt('batch', values.batch, 100),
      wait: values.wait,
      waitTimeoutS: positiveInt('wait-timeout', values['wait-timeout'], 900),
      skipIndexed: values['skip-indexed'],
      retries: positiveInt('retries', values.retries, 8, 0),
      timeoutMs: positiveInt('timeout', values.timeout, 60) * 1000,
      state,
      progress: createProgress(mode),
      signal: controller.signal,
    });
    process.stdout.write(`${formatSummary(summary)}\n`);
    if (summary.interrupted) process.exit(130);
    process.exit(summary.failed.length || summary.fatal || (values.wait && summary.pending) ? 1 : 0);
  } catch (error) {
    if (error instanceof Fatal) {
      process.stderr.write(`error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

await main();
