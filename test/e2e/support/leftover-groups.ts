/**
 * Global setup of the Node test project: every process group the stack helpers start
 * (scripts/stack/process-group.ts) is listed in a file, and the teardown ends any process of them
 * still running, naming it. A group a failed test left behind would otherwise outlive `npm test`
 * and keep its output pipe open, so that whatever reads that pipe (CI) waits for ever. Zombies
 * (exited, not yet reaped by an init that may never reap them) hold nothing and are not counted.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Processes of the given groups that are running (not zombies): pid, group and command. */
function running(groups: Set<number>): { pid: number; line: string }[] {
  return execFileSync('ps', ['-eo', 'pid=,pgid=,stat=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .flatMap((line) => {
      const [pid, pgid, stat] = line.split(/\s+/);
      return groups.has(Number(pgid)) && !stat?.startsWith('Z')
        ? [{ pid: Number(pid), line: line.slice(0, 160) }]
        : [];
    });
}

export default function setup(): () => Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'koclip-groups-'));
  const registry = join(dir, 'groups');
  writeFileSync(registry, '');
  process.env.KOCLIP_GROUP_REGISTRY = registry;
  return async () => {
    const groups = new Set(readFileSync(registry, 'utf8').split('\n').filter(Boolean).map(Number));
    const left = running(groups);
    console.error(
      `[teardown] the tests started ${groups.size} process group(s); ${left.length} process(es) left running`,
    );
    if (left.length) {
      console.error(`[teardown] ending them:\n${left.map((p) => p.line).join('\n')}`);
      for (const { pid } of left) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
}
