/**
 * The throwaway stack of the contract tests: the real encoder (koclip-tiny, one thread) and the
 * Worker under `wrangler dev` in a fresh state folder (removed on stop), started by scripts/stack
 * with the test stack's secrets. The index starts empty; the generated client's test fills it
 * through the API itself.
 */
import {
  type EncoderProcess,
  STACK_ENCODER,
  STACK_SECRETS,
  STACK_VARS,
  startEncoder,
  startWorker,
  type WorkerProcess,
} from '../../../scripts/stack/index';

export { STACK_SECRETS };

export interface ContractStack {
  base: string;
  stop: () => Promise<void>;
}

export async function startContractStack(): Promise<ContractStack> {
  let encoder: EncoderProcess | undefined;
  let worker: WorkerProcess | undefined;
  const stop = async () => {
    await worker?.stop();
    await encoder?.stop();
  };
  try {
    encoder = await startEncoder({ ...STACK_ENCODER, threads: 1 });
    worker = await startWorker({ vars: { ...STACK_VARS, ENCODER_URL: encoder.url } });
    return { base: worker.url, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
