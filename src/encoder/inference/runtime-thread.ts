/**
 * The thread that owns onnxruntime-node (see runtime.ts for the main-thread side). Its session
 * runs are synchronous native calls: on the main thread they would stop the HTTP server, the
 * batcher and the decode workers' hand-offs for the length of every run.
 */
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { normaliseBatch } from '../images/pixel-tensor';
import type { Provider, RuntimeRequest, RuntimeResponse } from './runtime';

const port = parentPort;
if (!port) throw new Error('runtime-thread must run as a worker thread');

const sessions = new Map<number, ort.InferenceSession>();
let nextSession = 0;
let provider: Provider = 'cpu';
let options: { cudaDevice: number; threads: number } = { cudaDevice: 0, threads: 0 };

function sessionOptions(active: Provider, externalDataFolder?: string): ort.InferenceSession.SessionOptions {
  const executionProviders: ort.InferenceSession.ExecutionProviderConfig[] =
    active === 'cuda' ? [{ name: 'cuda', deviceId: options.cudaDevice }] : ['cpu'];
  return {
    executionProviders,
    graphOptimizationLevel: 'all',
    extra: {
      session: {
        // No busy-waiting between runs: on a small CPU host the decode threads need those cycles.
        intra_op: { allow_spinning: '0' },
        inter_op: { allow_spinning: '0' },
        // onnxruntime-node takes no external data bytes, only this folder for a graph from bytes.
        ...(externalDataFolder ? { model_external_initializers_file_folder_path: externalDataFolder } : {}),
      },
    },
    ...(options.threads > 0 ? { intraOpNumThreads: options.threads } : {}),
  };
}

// The normalised image input, reused from run to run (a run reads it synchronously).
let input = new Float32Array(0);
function inputBuffer(length: number): Float32Array {
  if (input.length < length) input = new Float32Array(length);
  return input.subarray(0, length);
}

async function handle(request: RuntimeRequest): Promise<RuntimeResponse> {
  switch (request.op) {
    case 'init': {
      options = { cudaDevice: request.cudaDevice, threads: request.threads };
      const onnxruntime = ort.env.versions.node ?? ort.env.versions.common ?? 'unknown';
      if (request.provider === 'cpu') {
        provider = 'cpu';
        return { op: 'init', info: { requested: 'cpu', active: 'cpu', onnxruntime } };
      }
      // CUDA only when a probe session on a real model creates with it.
      const supported = ort.listSupportedBackends().find((b) => b.name === 'cuda');
      try {
        if (!request.probe) throw new Error('no model to probe the CUDA provider with');
        const probe = await ort.InferenceSession.create(request.probe, sessionOptions('cuda'));
        await probe.release();
        provider = 'cuda';
        return { op: 'init', info: { requested: 'cuda', active: 'cuda', onnxruntime } };
      } catch (error) {
        provider = 'cpu';
        const reason = `${supported?.bundled === false ? 'CUDA provider files not installed; ' : ''}${
          error instanceof Error ? error.message : String(error)
        }`;
        return {
          op: 'init',
          info: { requested: 'cuda', active: 'cpu', fallbackReason: reason, onnxruntime },
        };
      }
    }
    case 'load': {
      const session = await ort.InferenceSession.create(
        request.model,
        sessionOptions(provider, request.externalDataFolder),
      );
      const id = nextSession++;
      sessions.set(id, session);
      const types: Record<string, string> = {};
      for (const value of [...session.inputMetadata, ...session.outputMetadata])
        if (value.isTensor) types[value.name] = value.type;
      return { op: 'load', session: id, inputNames: [...session.inputNames], types };
    }
    case 'run': {
      const session = sessions.get(request.session);
      if (!session) throw new Error(`no session ${request.session}`);
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(request.feeds)) {
        if (t.type === 'rgb8') {
          const { size } = t.spec;
          const pixels = normaliseBatch(t.data, t.batch, t.spec, inputBuffer(t.batch * 3 * size * size));
          feeds[name] = new ort.Tensor('float32', pixels, [t.batch, 3, size, size]);
        } else feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
      }
      const out = (await session.run(feeds))[request.output];
      if (out?.type !== 'float32' || out.dims.length !== 2) {
        throw new Error(`model output ${request.output} is missing or not float32 [B,D]`);
      }
      const data = (out.data as Float32Array).slice();
      return { op: 'run', rows: Number(out.dims[0]), dim: Number(out.dims[1]), data };
    }
    case 'release': {
      await sessions.get(request.session)?.release();
      sessions.delete(request.session);
      return { op: 'release' };
    }
  }
}

// One message at a time, in order: runs on the thread never overlap.
let queue: Promise<void> = Promise.resolve();
port.on('message', (message: { id: number; request: RuntimeRequest }) => {
  queue = queue.then(async () => {
    try {
      const response = await handle(message.request);
      port.postMessage(
        { id: message.id, ok: true, response },
        response.op === 'run' ? [response.data.buffer as ArrayBuffer] : [],
      );
    } catch (error) {
      port.postMessage({
        id: message.id,
        ok: false,
        message: error instanceof Error ? error.message : String(error),
      });
    }
  });
});
