/** The local secrets of `wrangler dev`: KEY=value lines of .dev.vars (the cwd's, else the repository's, else .dev.vars.example). */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

export function readDevVars(): Record<string, string> {
  for (const file of [
    join(process.cwd(), '.dev.vars'),
    join(ROOT, '.dev.vars'),
    join(ROOT, '.dev.vars.example'),
  ]) {
    if (!existsSync(file)) continue;
    return Object.fromEntries(
      readFileSync(file, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#') && l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
  }
  return {};
}
