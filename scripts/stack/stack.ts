/**
 * The whole local stack, supervised: the encoder, then `wrangler dev` pointed at it (ENCODER_URL and
 * ENCODER_TOKEN as vars). If either process ends while the stack runs (a crash, a `kill -9`), the
 * other is stopped and `exited` says which one ended and how; `stop()` ends both and leaves no
 * process of either group behind.
 *
 * Tests that stop, restart or proxy the encoder on purpose start the two halves themselves
 * (startEncoder, startWorker), without this supervision.
 */
import { join } from 'node:path';
import { type EncoderOptions, type EncoderProcess, startEncoder } from './encoder';
import { ROOT } from './paths';
import type { GroupExit } from './process-group';
import { startWorker, type WorkerOptions, type WorkerProcess } from './worker';

/** The secrets of a stack started by the tests and benches (npm start reads .dev.vars instead). */
export const STACK_SECRETS = {
  ADMIN_TOKEN: 'stack-admin-token-0123',
  WEBHOOK_SECRET: 'stack-webhook-secret-0123',
  ENCODER_TOKEN: 'stack-encoder-token-0123',
};

/** The encoder of a test or bench stack: koclip-tiny from models/, image URLs on loopback allowed. */
export const STACK_ENCODER: EncoderOptions = {
  token: STACK_SECRETS.ENCODER_TOKEN,
  urlAllowlist: '127.0.0.1',
  env: { ENCODER_MODELS_DIR: join(ROOT, 'models'), ENCODER_MODELS: 'koclip-tiny' },
};

/** The Worker vars of a test or bench stack: its secrets, and 30 s for an encoder call on a busy host. */
export const STACK_VARS: Record<string, string> = { ...STACK_SECRETS, ENCODER_TIMEOUT_MS: '30000' };

export interface StackOptions {
  encoder: EncoderOptions;
  worker?: WorkerOptions;
}

/** Which process ended a supervised stack, and how. */
export interface StackExit extends GroupExit {
  process: 'encoder' | 'worker';
}

export interface Stack {
  encoder: EncoderProcess;
  worker: WorkerProcess;
  /** The Worker's URL. */
  url: string;
  /** Resolves once either process ended on its own and the other was stopped; never after stop(). */
  exited: Promise<StackExit>;
  /** Stops both and resolves once no process of the stack is left. */
  stop: () => Promise<void>;
}

/** Starts the encoder, then the Worker pointed at it, and watches both. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const encoder = await startEncoder(options.encoder);
  let worker: WorkerProcess;
  try {
    worker = await startWorker({
      ...options.worker,
      vars: { ENCODER_URL: encoder.url, ENCODER_TOKEN: encoder.token, ...options.worker?.vars },
    });
  } catch (error) {
    await encoder.stop();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= Promise.all([worker.stop(), encoder.stop()]).then(() => undefined);
    return stopping;
  };
  const exited = new Promise<StackExit>((resolve) => {
    const watch = (name: StackExit['process'], ended: Promise<GroupExit>) => {
      void ended.then(async (exit) => {
        if (stopping) return;
        await stop();
        resolve({ process: name, ...exit });
      });
    };
    watch('encoder', encoder.exited);
    watch('worker', worker.exited);
  });
  return { encoder, worker, url: worker.url, exited, stop };
}
