/**
 * The one launcher of the local stack: the encoder function (`src/encoder/main.ts`) and the Worker
 * under `wrangler dev`, each in a process group of its own, with their options (ports or free
 * ports, wrangler's persist folder, vars and secrets, debug routes, the encoder's environment such
 * as threads and its URL allow-list, output captured, inherited or filtered), their readiness (the
 * encoder's "listening on" line, the Worker's /healthz) and their stop (SIGTERM to the whole group,
 * SIGKILL after a grace period, until none of it is left). `npm start` (main.ts), the indexing
 * end-to-end tests, the browser tests and the benchmarks all start the stack through here.
 *
 * - startEncoder / startWorker: one half each, for tests that stop, restart or proxy the encoder;
 * - startStack: both, supervised: when either ends, the other is stopped and `exited` says why;
 * - process groups: groups still running when this process exits are killed, and a SIGINT,
 *   SIGTERM or SIGHUP that nothing else handles stops them first (process-group.ts).
 *
 * Why `wrangler dev` as a subprocess and not wrangler's programmatic API (unstable_startWorker of
 * wrangler 4.156.2), both tried here with this repository's wrangler.toml: the API served every
 * binding (persist folder, vars as plain_text bindings, ip and port, the queue consumer through the
 * Durable Object writer to `indexed`, the assets), answered /healthz about 2.1 s after the call
 * against 3.4-4.3 s for the CLI (which starts a second Node), and disposed in 23-60 ms. But it runs
 * workerd and esbuild as children of the calling process itself: after a `kill -9` of that
 * process workerd stayed up, reparented to init and still serving its port, and after dispose()
 * the esbuild service stayed a child until the process exited. The calling process is a test
 * worker, a bench or `npm start`, so the Worker could not be stopped, watched or killed as a unit
 * apart from it, and its access log goes through the host's own console. The CLI in its own
 * process group is one unit: SIGTERM to the group took about 0.4 s to end wrangler, workerd (two)
 * and esbuild, its exit is an 'exit' event to supervise, and its output is a pipe to capture or
 * filter. What the CLI lacks: a switch for its file watching (the API's dev.watch), so a running
 * Worker rebuilds when the sources change; a build that fails while it starts is reported at once
 * (worker.ts) rather than waited out.
 */
export { type EncoderOptions, type EncoderProcess, startEncoder } from './encoder';
export type { LineFilter, LogMode } from './output';
export { NODE, ROOT, TS_RUNNER } from './paths';
export { freePort } from './ports';
export { type GroupExit, groupMembers, stopAllGroups } from './process-group';
export {
  STACK_ENCODER,
  STACK_SECRETS,
  STACK_VARS,
  type Stack,
  type StackExit,
  type StackOptions,
  startStack,
} from './stack';
export { startWorker, type WorkerOptions, type WorkerProcess } from './worker';
