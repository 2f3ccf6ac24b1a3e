/**
 * API keys CLI: creates, lists and revokes the Worker's API keys through the keys API (admin).
 *
 *   npm run keys -- create --name N --scopes search[,ingest,admin] [--collections a,b]
 *                          [--origins https://x,https://y] [--expires-at ISO]
 *                          [--requests-per-day N] [--encoder-per-day N]
 *   npm run keys -- list
 *   npm run keys -- revoke <id>
 *
 * `create` prints the secret alone on stdout (it is shown this once: store it now), the key's
 * id and settings on stderr, so `KEY=$(npm run -s keys -- create ...)` keeps just the secret.
 * `list` prints a table (id, name, scopes, collections, expiry, revoked, usage today), never a
 * secret. `revoke` refuses the key everywhere within the Worker's KEY_CACHE_S (5 s).
 * Options: --url (KOCLIP_URL, http://127.0.0.1:8787), --token (ADMIN_TOKEN; defaults to the
 * repository's .dev.vars), --retries N (2: retries of 429, 5xx and network errors).
 * Exit: 0 done; 1 refused by the service (or an answer out of contract, or no answer); 2 bad
 * options (nothing sent).
 */
import { runKeysCli } from './cli';

process.exit(
  await runKeysCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
  }),
);
