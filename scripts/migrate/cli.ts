/**
 * The migration CLI as a function of its arguments and streams, returning the exit code, so that
 * tests run it in-process; main.ts is the entry (options and exit codes are described there).
 */
import { parseArgs } from 'node:util';
import type { Migration } from '../../src/core/contract/collection-schemas';
import { COLLECTION_PATTERN, MODEL_ID_PATTERN } from '../../src/core/contract/ids';
import { adminTarget, usage, withUsage } from '../index/admin-cli';
import { Stopped } from '../index/http';
import { createProgress, type ProgressMode } from '../index/progress';
import { type AdminApi, ApiError, adminApi, ContractError } from './admin-api';
import { describeEnd, followMigration, modelName } from './follow';

const USAGE =
  'usage: npm run migrate -- <collection> [--to MODEL | --follow ID | --rollback ID] [--url URL] [--token T]\n' +
  '         [--poll-interval S] [--timeout S] [--retries N] [--progress auto|bar|lines|none]\n';

export interface CliIo {
  /** The closing report. */
  stdout: NodeJS.WritableStream;
  /** Progress, notes and errors. */
  stderr: NodeJS.WriteStream;
  env: Record<string, string | undefined>;
  /** Aborted on Ctrl-C: following stops, the migration goes on. */
  signal?: AbortSignal;
}

function seconds(name: string, value: string | undefined, fallback: number, zero: boolean): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!value.trim() || !Number.isFinite(n) || n < 0 || (n === 0 && !zero))
    usage(`--${name} must be a number of seconds ${zero ? '>= 0' : '> 0'}`);
  return n;
}

function parse(args: string[]) {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      options: {
        to: { type: 'string' },
        follow: { type: 'string' },
        rollback: { type: 'string' },
        url: { type: 'string' },
        token: { type: 'string' },
        'poll-interval': { type: 'string' },
        timeout: { type: 'string' },
        retries: { type: 'string' },
        progress: { type: 'string', default: 'auto' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    usage((error as Error).message);
  }
}

/** What a refusal means to the operator. */
async function explain(error: ApiError, api: AdminApi, collection: string): Promise<string> {
  const said = `${error.status} ${error.code}: ${error.message}`;
  if (error.status === 401 || error.status === 403)
    return `the admin token was refused (${said}); give the Worker's ADMIN_TOKEN with --token or ADMIN_TOKEN`;
  if (error.code === 'migration_running') {
    const running = await api.collection(collection).catch(() => undefined);
    const m = running?.migration;
    if (m)
      return `${said}\n${m.id} (${modelName(m.from)} -> ${modelName(m.to)}) is ${m.state}; follow it: npm run migrate -- ${collection} --follow ${m.id}`;
  }
  return said;
}

/** Runs `npm run migrate -- <argv>` and returns its exit code (main.ts passes the process's streams). */
export function runMigrateCli(argv: string[], io: CliIo): Promise<number> {
  return withUsage(USAGE, io.stderr, () => run(argv, io));
}

async function run(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv);
  if (values.help) usage();
  if (positionals.length !== 1) usage('give exactly one collection');
  const collection = positionals[0] as string;
  if (!COLLECTION_PATTERN.test(collection)) usage(`${collection} is not a collection name`);
  const actions = [values.to, values.follow, values.rollback].filter((v) => v !== undefined);
  if (actions.length > 1) usage('give at most one of --to, --follow and --rollback');
  if (values.to !== undefined && !MODEL_ID_PATTERN.test(values.to)) usage(`${values.to} is not a model id`);
  if (values.follow === '' || values.rollback === '') usage('a migration id cannot be empty');
  const mode = values.progress as ProgressMode;
  if (!['auto', 'bar', 'lines', 'none'].includes(mode)) usage('--progress is auto, bar, lines or none');
  const { url, token, retries } = adminTarget(values, io.env, 8);
  const pollIntervalMs = seconds('poll-interval', values['poll-interval'], 1, false) * 1000;
  const timeoutS = seconds('timeout', values.timeout, 0, true);

  const progress = createProgress(mode, io.stderr);
  const api = adminApi({
    url,
    token,
    retries,
    signal: io.signal,
    onRetry: (reason, attempt, delay) => {
      if (attempt === 1 || attempt % 4 === 0)
        progress.note(`retrying (${reason}), try ${attempt + 1} in ${Math.round(delay)} ms`);
    },
  });
  const report = (text: string) => io.stdout.write(`${text}\n`);

  // What was under way, for a Ctrl-C or a network failure.
  let step = 'reading the collection';
  try {
    let migration: Migration;
    if (values.rollback !== undefined) {
      step = 'rolling back';
      migration = await api.rollback(collection, values.rollback);
      const { text, code } = describeEnd({ end: 'settled', migration }, collection, timeoutS);
      report(text);
      return code;
    }
    if (values.to !== undefined) {
      step = 'starting the migration';
      migration = await api.startMigration(collection, values.to);
      io.stderr.write(
        `migration ${migration.id} of ${collection}: ${modelName(migration.from)} -> ${modelName(migration.to)} (${url})\n`,
      );
    } else if (values.follow !== undefined) {
      step = 'reading the migration';
      migration = await api.migration(collection, values.follow);
    } else {
      const current = await api.collection(collection);
      if (!current.migration) {
        report(
          `${collection} reads ${current.model}${current.pinned ? '' : ' (the default model)'}; no migration running or in its rollback period`,
        );
        return 0;
      }
      migration = current.migration;
    }
    step = 'following';
    const end = await followMigration({
      api,
      collection,
      migration,
      pollIntervalMs,
      timeoutS,
      progress,
      signal: io.signal,
    });
    const { text, code } = describeEnd(end, collection, timeoutS);
    report(text);
    return code;
  } catch (error) {
    progress.stop();
    if (error instanceof Stopped) {
      report(
        `interrupted while ${step}${values.to === undefined ? '' : `; see whether it started: npm run migrate -- ${collection}`}`,
      );
      return 130;
    }
    if (error instanceof ApiError) {
      io.stderr.write(`error: ${await explain(error, api, collection)}\n`);
      return 1;
    }
    if (error instanceof ContractError) {
      io.stderr.write(`error: the service's answer is out of contract: ${error.message}\n`);
      return 1;
    }
    io.stderr.write(`error: no answer from ${url} while ${step}: ${(error as Error).message}\n`);
    return 1;
  }
}
