/**
 * The local-stack launcher's lifecycle, through `npm start`'s own entry (scripts/stack/main.ts,
 * without the demo seed): when the encoder or wrangler is killed with SIGKILL, the launcher stops
 * the rest and exits non-zero; on SIGINT it stops both and exits 130. Each time no process of
 * either process group (the encoder; wrangler, its second Node, workerd, esbuild) is left alive.
 * Zombies waiting for init to reap them do not count.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { groupMembers, ROOT, TS_RUNNER } from '../../scripts/stack/index';

const dir = mkdtempSync(join(tmpdir(), 'e2e-stack-launcher-'));
const groups: number[] = [];
const launchers: ChildProcess[] = [];

afterAll(async () => {
  // Only if a test failed half-way: nothing of a stack may outlive this file. SIGTERM first, so
  // that a launcher stops its own groups (a SIGKILLed launcher would leave them running).
  const running = launchers.filter((l) => l.exitCode === null && l.signalCode === null);
  await Promise.all(
    running.map(
      (launcher) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 15_000);
          launcher.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          launcher.kill('SIGTERM');
        }),
    ),
  );
  for (const launcher of running) launcher.kill('SIGKILL');
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {}
  }
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

const command = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
};

/** Whether `pid` is a live process (not exited, not a zombie). */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
};

interface Launched {
  launcher: ChildProcess;
  encoderPid: number;
  workerPid: number;
  /** The Worker's process group once ready (wrangler, workerd...). */
  workerGroup: number[];
  exited: Promise<number | null>;
  output: () => string;
  readyS: number;
}

/** `npm start`'s entry on free ports and a fresh state folder, until its ready line. */
async function launch(name: string): Promise<Launched> {
  const started = Date.now();
  const launcher = spawn(TS_RUNNER, ['scripts/stack/main.ts', '--no-seed'], {
    cwd: ROOT,
    env: {
      ...process.env,
      // Free ports chosen by the launcher itself, so that a port taken between the choice and
      // wrangler's bind is tried again rather than failing the launch.
      WORKER_PORT: '0',
      ENCODER_PORT: '0',
      PERSIST_TO: join(dir, name),
      ENCODER_THREADS: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  launchers.push(launcher);
  let output = '';
  const keep = (c: Buffer) => {
    output += c.toString();
  };
  launcher.stdout?.on('data', keep);
  launcher.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => launcher.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 120_000;
  while (!/\[dev\] ready after/.test(output) && launcher.exitCode === null && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  expect(output, output).toMatch(/\[dev\] ready after/);
  const pids = /encoder function up \(pid (\d+), [^)]*\); Worker up \(wrangler dev, pid (\d+), [^)]*\)/.exec(
    output,
  );
  expect(pids, output).not.toBeNull();
  const [encoderPid, workerPid] = [Number(pids?.[1]), Number(pids?.[2])];
  groups.push(encoderPid, workerPid);
  const workerGroup = groupMembers(workerPid);
  // The checks after the kill mean something: the Worker's group holds workerd beside wrangler.
  expect(workerGroup.map(command)).toContain('workerd');
  expect(groupMembers(encoderPid)).toEqual([encoderPid]);
  return {
    launcher,
    encoderPid,
    workerPid,
    workerGroup,
    exited,
    output: () => output,
    readyS: (Date.now() - started) / 1000,
  };
}

/** Nothing of the stack is left: neither group, nor any process the Worker's group held. */
function expectNothingLeft(stack: Launched): void {
  expect(groupMembers(stack.encoderPid)).toEqual([]);
  expect(groupMembers(stack.workerPid)).toEqual([]);
  expect([stack.encoderPid, ...stack.workerGroup].filter(alive)).toEqual([]);
}

async function timed(stack: Launched, kill: () => void): Promise<{ code: number | null; s: number }> {
  const t = Date.now();
  kill();
  const code = await stack.exited;
  return { code, s: (Date.now() - t) / 1000 };
}

describe('the local-stack launcher (npm start without the seed)', () => {
  it('stops the Worker and exits non-zero when the encoder is killed with SIGKILL', async () => {
    const stack = await launch('encoder-killed');
    const { code, s } = await timed(stack, () => process.kill(stack.encoderPid, 'SIGKILL'));
    expect(code, stack.output()).not.toBe(0);
    expect(code, stack.output()).not.toBeNull();
    expect(stack.output()).toMatch(/the encoder function exited \(SIGKILL\)/);
    expectNothingLeft(stack);
    console.log(
      `encoder killed: ready in ${stack.readyS.toFixed(1)} s, exit ${code} after ${s.toFixed(1)} s`,
    );
  }, 150_000);

  it("stops the encoder and wrangler's orphaned workerd when wrangler is killed with SIGKILL", async () => {
    const stack = await launch('worker-killed');
    const { code, s } = await timed(stack, () => process.kill(stack.workerPid, 'SIGKILL'));
    expect(code, stack.output()).not.toBe(0);
    expect(stack.output()).toMatch(/the Worker \(wrangler dev\) exited \(SIGKILL\)/);
    expectNothingLeft(stack);
    console.log(
      `wrangler killed: ready in ${stack.readyS.toFixed(1)} s, exit ${code} after ${s.toFixed(1)} s`,
    );
  }, 150_000);

  it('stops both and exits 130 on SIGINT', async () => {
    const stack = await launch('sigint');
    const { code, s } = await timed(stack, () => stack.launcher.kill('SIGINT'));
    expect(code, stack.output()).toBe(130);
    expectNothingLeft(stack);
    console.log(`SIGINT: ready in ${stack.readyS.toFixed(1)} s, exit ${code} after ${s.toFixed(1)} s`);
  }, 150_000);
});
