/**
 * What the admin CLIs (`npm run migrate`, `npm run keys`) share around their arguments: a usage
 * error (exit 2, nothing sent), the run wrapper that prints it with the command's usage, and the
 * Worker they talk to: --url (KOCLIP_URL, http://127.0.0.1:8787), --token (ADMIN_TOKEN, else the
 * repository's .dev.vars) and --retries.
 */
import { readDevVars } from './dev-vars';

/** Bad options: exit 2, nothing sent. */
export class UsageError extends Error {}

export function usage(message = ''): never {
  throw new UsageError(message);
}

/** Runs a CLI body; a UsageError becomes its message, the usage text and exit code 2. */
export async function withUsage(
  text: string,
  stderr: NodeJS.WritableStream,
  run: () => Promise<number>,
): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    if (error.message) stderr.write(`error: ${error.message}\n`);
    stderr.write(text);
    return 2;
  }
}

/** The Worker, admin token and retry count the options name (a usage error when they are bad). */
export function adminTarget(
  values: { url?: string; token?: string; retries?: string },
  env: Record<string, string | undefined>,
  defaultRetries: number,
): { url: string; token: string; retries: number } {
  const url = values.url ?? env.KOCLIP_URL ?? 'http://127.0.0.1:8787';
  if (!/^https?:\/\//.test(url)) usage('--url must be an http(s) URL');
  const retries = values.retries === undefined ? defaultRetries : Number(values.retries);
  if (!Number.isInteger(retries) || retries < 0) usage('--retries must be an integer >= 0');
  const token = values.token ?? env.ADMIN_TOKEN ?? readDevVars().ADMIN_TOKEN;
  if (!token) usage('an admin token is needed (--token or ADMIN_TOKEN)');
  return { url, token, retries };
}
