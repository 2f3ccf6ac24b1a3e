import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  EDGE_QUERY_CACHE_BYTES,
  ISOLATE_MEMORY_BYTES,
  SCORE_ANSWER_CACHE_BYTES,
  SEGMENT_CACHE_BYTES,
} from '../../src/edge/isolate-memory';
import { tinyWithExternalData } from './support/external-data';

// `npm run model:fit`: the text tower's wasm memory in onnxruntime-web against the isolate.
const ROOT = join(import.meta.dirname, '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'model', 'fit.mjs');
const TINY = join(ROOT, 'models', 'koclip-tiny');
const work = mkdtempSync(join(tmpdir(), 'fit-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function runFit(args: string[], env: Record<string, string> = {}) {
  const { KOCLIP_FIT_LIMIT_MB: _, ...base } = process.env;
  return spawnSync(process.execPath, [SCRIPT, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...base, ...env },
  });
}

type Manifest = { text: { placement: string; files: Record<string, string | undefined> } };

/** A copy of koclip-tiny (without its demo index) with its manifest edited. */
function tinyCopy(name: string, edit: (manifest: Manifest) => void): string {
  const dir = join(work, name);
  cpSync(TINY, dir, { recursive: true, filter: (src) => !src.startsWith(join(TINY, 'demo')) });
  const path = join(dir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  edit(manifest);
  writeFileSync(path, JSON.stringify(manifest, null, 2));
  return dir;
}

describe('model:fit', () => {
  it('koclip-tiny fits an isolate and prints the figures', () => {
    const r = runFit(['models/koclip-tiny']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('text-int8.onnx (int8)');
    const load = Number(/wasm memory after load\s+([\d.]+) MiB/.exec(r.stdout)?.[1]);
    const run = Number(/wasm memory after a run \(16 tokens\)\s+([\d.]+) MiB/.exec(r.stdout)?.[1]);
    expect(load).toBeGreaterThan(1);
    expect(run).toBeGreaterThanOrEqual(load);
    expect(r.stdout).toMatch(/x the file\)/);
    expect(r.stdout).toMatch(/isolate limit\s+128\.0 MiB/);
    expect(r.stdout).toMatch(/worker budgets\s+28\.0 MiB \(segment cache 24, query cache 2, score cache 2\)/);
    expect(r.stdout).toMatch(/headroom \(limit - run - budgets\)\s+[\d.]+ MiB/);
    expect(r.stdout).toContain('fits:');
  });

  it("counts the Worker's own budgets as the source declares them", () => {
    const fig = JSON.parse(runFit(['models/koclip-tiny', '--json']).stdout) as {
      worker_budgets_mib: Record<string, number>;
      limit_mib: number;
    };
    const MIB = 1024 * 1024;
    expect(fig.limit_mib).toBe(ISOLATE_MEMORY_BYTES / MIB);
    expect(fig.worker_budgets_mib).toEqual({
      segment_cache: SEGMENT_CACHE_BYTES / MIB,
      query_cache: EDGE_QUERY_CACHE_BYTES / MIB,
      score_cache: SCORE_ANSWER_CACHE_BYTES / MIB,
    });
  });

  it('measures the fp32 variant when asked', () => {
    const r = runFit(['models/koclip-tiny', '--variant', 'fp32']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('text-fp32.onnx (fp32)');
  });

  it('--json prints the figures as one object, with the verdict', () => {
    const ok = runFit(['models/koclip-tiny', '--json']);
    expect(ok.status, ok.stderr).toBe(0);
    const fig = JSON.parse(ok.stdout) as Record<string, unknown>;
    expect(fig).toMatchObject({ model: 'koclip-tiny', variant: 'int8', file: 'text-int8.onnx', fits: true });
    expect(fig.limit_mib).toBe(128);
    expect(fig.worker_budget_mib).toBe(28);
    expect(fig.wasm_after_run_mib as number).toBeGreaterThanOrEqual(fig.wasm_after_load_mib as number);
    expect(fig.needed_mib).toBeCloseTo((fig.wasm_after_run_mib as number) + 28, 1);
    const over = runFit(['models/koclip-tiny', '--json'], { KOCLIP_FIT_LIMIT_MB: '20' });
    expect(over.status).toBe(1);
    expect(JSON.parse(over.stdout)).toMatchObject({ fits: false, limit_mib: 20 });
    expect(over.stderr).toContain('does not fit an isolate:');
  });

  it('an edge tower over the limit exits 1 and says why', () => {
    const dir = tinyCopy('edge', (m) => {
      m.text.placement = 'edge';
    });
    const r = runFit([dir], { KOCLIP_FIT_LIMIT_MB: '20' });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/isolate limit\s+20\.0 MiB \(KOCLIP_FIT_LIMIT_MB\)/);
    expect(r.stderr).toContain('does not fit an isolate:');
    expect(r.stderr).toMatch(/> 20\.0 MiB limit/);
    // The same package fits under the real limit.
    expect(runFit([dir]).status).toBe(0);
  });

  it('measures a tower that keeps its weights as external data, both files together', () => {
    const dir = tinyWithExternalData(join(work, 'external'), 'koclip-tiny-ext');
    const r = runFit([dir, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const fig = JSON.parse(r.stdout) as Record<string, number | string | boolean>;
    const both = statSync(join(dir, 'text-int8.onnx')).size + statSync(join(dir, 'text-int8.onnx.data')).size;
    expect(fig).toMatchObject({ file: 'text-int8.onnx', external_data: 'text-int8.onnx.data', fits: true });
    expect(fig.file_mib).toBeCloseTo(both / 2 ** 20, 1);
    // Not more wasm memory than the same weights inside the protobuf.
    const inline = JSON.parse(runFit(['models/koclip-tiny', '--json']).stdout) as typeof fig;
    expect(fig.wasm_after_load_mib as number).toBeLessThanOrEqual(inline.wasm_after_load_mib as number);
    expect(runFit([dir]).stdout).toContain('text-int8.onnx + text-int8.onnx.data (int8)');
    // Without its data file the tower cannot load: bad input.
    rmSync(join(dir, 'text-int8.onnx.data'));
    const missing = runFit([dir]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('text-int8.onnx.data is missing');
  });

  it.each([
    [['models/no-such-model'], 'no package folder'],
    [[], 'usage'],
    [['models/koclip-tiny', '--variant', 'fp16'], '--variant must be int8 or fp32'],
  ])('bad input %j exits 2', (args, message) => {
    const r = runFit(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
  });

  it('a manifest without the variant exits 2', () => {
    const dir = tinyCopy('no-fp32', (m) => {
      delete m.text.files.fp32;
    });
    const r = runFit([dir, '--variant', 'fp32']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('has no fp32 text tower');
  });

  it('a bad KOCLIP_FIT_LIMIT_MB exits 2', () => {
    const r = runFit(['models/koclip-tiny'], { KOCLIP_FIT_LIMIT_MB: 'lots' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('KOCLIP_FIT_LIMIT_MB');
  });
});
