/**
 * Where the launcher finds things: the repository root, the TypeScript runner (scripts/ts: the
 * repository's Node 22 with the type-stripping flags and src/encoder/ts-hooks.mjs) and the Node
 * that runs wrangler (the `node` devDependency when installed: wrangler needs Node 22).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (with a trailing slash). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs a TypeScript file of the repository: `spawn(TS_RUNNER, [file, ...args])` with `file` a path such as scripts/index/main.ts. */
export const TS_RUNNER = join(ROOT, 'scripts/ts');

const REPO_NODE = join(ROOT, 'node_modules/.bin/node');

/** The Node binary for child Node processes that need Node 22 whatever runs this one. */
export const NODE = existsSync(REPO_NODE) ? REPO_NODE : process.execPath;
