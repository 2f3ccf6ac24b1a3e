/**
 * `npm run bench`: every benchmark of the project, one after another (they would skew each other
 * in parallel), each one's printed tables kept in build/bench/<name>.md, then report.ts writes
 * docs/benchmarks.md's generated section and docs/plots/. Takes long (the encoder, indexing and
 * load runs start whole stacks); never part of `npm test`.
 *
 *   npm run bench -- [--only towers,filters] [--skip encoder,index] [--report-only]
 *
 * A benchmark that fails is reported and the rest still run; the exit status is 1 if any failed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './support/common';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    skip: { type: 'string', default: '' },
    'report-only': { type: 'boolean', default: false },
  },
});

/** name -> package.json script; the kernel's joins when its script exists. */
const BENCHES: [string, string | string[]][] = [
  ['search', 'bench:search'],
  ['search-kernel', ['bench:kernel', 'bench:search-kernel']],
  ['search-route', 'bench:search-route'],
  ['filters', 'bench:filters'],
  ['stages', 'bench:stages'],
  ['encoder', 'bench:encoder'],
  ['text', 'bench:text'],
  ['towers', 'bench:towers'],
  ['wasm-peak', 'bench:wasm-peak'],
  ['cold', 'bench:cold'],
  ['index', 'bench:index'],
  ['migration', 'bench:migration'],
  ['stack', 'bench:stack'],
  ['stack-long', 'bench:stack-long'],
];
const scripts = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
).scripts;
const only = values.only ? new Set(values.only.split(',')) : undefined;
const skip = new Set(values.skip.split(',').filter(Boolean));
const outDir = join(ROOT, 'build/bench');
mkdirSync(outDir, { recursive: true });

const failed: string[] = [];
if (!values['report-only']) {
  for (const [name, names] of BENCHES) {
    if ((only && !only.has(name)) || skip.has(name)) continue;
    const script = [names].flat().find((n) => scripts[n]);
    if (!script) {
      console.log(`[bench] ${name}: no \`${[names].flat().join('` or `')}\` script, skipped`);
      continue;
    }
    console.log(`[bench] ${name}: npm run ${script}`);
    const started = Date.now();
    const r = spawnSync('npm', ['run', '--silent', script], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 256 * 1024 * 1024,
    });
    writeFileSync(join(outDir, `${name}.md`), r.stdout ?? '');
    const s = ((Date.now() - started) / 1000).toFixed(0);
    if (r.status === 0) console.log(`[bench] ${name}: done in ${s} s (build/bench/${name}.md)`);
    else {
      console.log(`[bench] ${name}: FAILED with ${r.status} after ${s} s`);
      failed.push(name);
    }
  }
}
const report = spawnSync('npm', ['run', '--silent', 'bench:report'], { cwd: ROOT, stdio: 'inherit' });
if (report.status !== 0) failed.push('report');
if (!existsSync(join(ROOT, 'docs/plots'))) failed.push('plots');
if (failed.length > 0) {
  console.log(`[bench] failed: ${failed.join(', ')}`);
  process.exit(1);
}
