/**
 * Migration CLI: moves a collection to another model through the collections API (admin) and
 * follows it with a progress bar.
 *
 *   npm run migrate -- <collection> --to <model>      start a migration and follow it
 *   npm run migrate -- <collection> --follow <id>     follow a migration
 *   npm run migrate -- <collection>                   follow the collection's current migration, if any
 *   npm run migrate -- <collection> --rollback <id>   return to the old model (within the grace period)
 *
 * Options: --url (KOCLIP_URL, http://127.0.0.1:8787), --token (ADMIN_TOKEN; defaults to the
 * repository's .dev.vars), --poll-interval S (1), --timeout S (0 = follow until it settles),
 * --retries N (8: retries of 429, 5xx and network errors, with backoff), --progress
 * auto|bar|lines|none (a bar on a terminal, lines otherwise).
 * Exit: 0 switched, rolled back, retired or nothing running; 1 failed, timed out or refused by
 * the service (or an answer out of contract); 2 bad options (nothing sent); 130 Ctrl-C (only
 * the following stops: the migration goes on).
 */
import { runMigrateCli } from './cli';

const controller = new AbortController();
process.on('SIGINT', () => {
  // The first stops following (cli.ts reports it); a second quits at once.
  if (controller.signal.aborted) process.exit(130);
  controller.abort();
});
process.exit(
  await runMigrateCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    signal: controller.signal,
  }),
);
