/**
 * A stack process in a process group of its own: the command is spawned detached (the leader of a
 * new group), so that it and everything it starts (wrangler's second Node, workerd, esbuild; the
 * encoder's threads live inside its one process) are signalled together with
 * `process.kill(-pgid)`, and stopped until no process of the group is left.
 *
 * Owns the registry of the groups this process started: they are killed (SIGKILL) when this process
 * exits for any reason that runs the 'exit' handlers (a test or bench that throws, process.exit),
 * and stopped on SIGINT, SIGTERM or SIGHUP when nothing else in this process listens for that
 * signal (then the signal is raised again, so the process still dies of it). A host that handles
 * the signals itself (`npm start`) stops its stack in its own handler. A SIGKILL of this process
 * runs nothing: its groups then stay up.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { collectOutput, type LogMode } from './output';

/** How the leader of a group ended. */
export interface GroupExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ProcessGroup {
  /** The leader's pid, which is also the id of its process group. */
  pid: number;
  child: ChildProcess;
  /** Resolves when the leader has exited (the rest of its group may live on: stop() ends it). */
  exited: Promise<GroupExit>;
  /** The leader's exit once it happened, else undefined. */
  exit: () => GroupExit | undefined;
  /** stdout and stderr so far (the last 2-4 MiB). */
  logs: () => string;
  /** SIGTERM to the whole group, SIGKILL after `graceMs`; resolves when none of it is left. */
  stop: (graceMs?: number) => Promise<void>;
}

const groups = new Set<ProcessGroup>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The live (not zombie) processes of process group `pgid`. */
export function groupMembers(pgid: number): number[] {
  if (!existsSync('/proc/self/stat')) {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const members: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so read after the last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') members.push(Number(name));
  }
  return members;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nothing of the group is left
  }
}

/** Stops every group this process started and has not stopped yet (a host's signal handler). */
export async function stopAllGroups(graceMs = 5000): Promise<void> {
  await Promise.all([...groups].map((group) => group.stop(graceMs)));
}

let handlersInstalled = false;
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const group of groups) signalGroup(group.pid, 'SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    let stopping = false;
    const onSignal = async () => {
      if (process.listenerCount(signal) > 1) return; // the host handles it and stops its stack
      if (!stopping) {
        stopping = true;
        await stopAllGroups(3000);
      }
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** Spawns `command` as the leader of a new process group, its output handled as `logs` says. */
export function spawnGroup(
  command: string,
  args: string[],
  options: { cwd: string; env: Record<string, string | undefined>; logs: LogMode },
): ProcessGroup {
  installHandlers();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env as NodeJS.ProcessEnv,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collectOutput({ stdout: child.stdout, stderr: child.stderr }, options.logs);
  let spawnError = '';
  let exit: GroupExit | undefined;
  const exited = new Promise<GroupExit>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
    child.once('error', (error) => {
      // Spawning failed (no such command): there is no process, and no 'exit' follows.
      if (child.pid !== undefined) return;
      exit = { code: 127, signal: null };
      spawnError = `${command}: ${error.message}\n`;
      resolve(exit);
    });
  });
  const pid = child.pid ?? -1;
  // Under the test runner, every group is listed so that its global teardown can end the ones a
  // failed test left running (test/e2e/support/leftover-groups.ts).
  const registry = process.env.KOCLIP_GROUP_REGISTRY;
  if (registry && pid > 0) appendFileSync(registry, `${pid}\n`);
  const group: ProcessGroup = {
    pid,
    child,
    exited,
    exit: () => exit,
    logs: () => output() + spawnError,
    stop: async (graceMs = 5000) => {
      if (pid > 0) {
        signalGroup(pid, 'SIGTERM');
        const deadline = Date.now() + graceMs;
        while (groupMembers(pid).length > 0 && Date.now() < deadline) await sleep(50);
        if (groupMembers(pid).length > 0) {
          signalGroup(pid, 'SIGKILL');
          const killDeadline = Date.now() + 5000;
          while (groupMembers(pid).length > 0 && Date.now() < killDeadline) await sleep(50);
        }
      }
      await exited;
      groups.delete(group);
    },
  };
  if (pid > 0) groups.add(group);
  return group;
}
