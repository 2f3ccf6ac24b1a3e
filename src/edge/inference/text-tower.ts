/**
 * The text tower at the edge: the module that runs the served models' text towers on
 * onnxruntime-web (./ort.ts loads the runtime; the debug probes of ../debug/route.ts create their
 * own benchmark sessions in the same instance). One lazy session per tower (a LoadedModel's
 * identity: id, version, tower files, variant); runs are serialised (one wasm thread per isolate)
 * and the texts of a call go through in batches padded to their longest text.
 */
import type { ModelManifest } from '../../core/manifest';
import type { TextTokenizer, TokenizedText } from '../../core/tokenizer';
import type { Env } from '../env';
import { ApiError } from '../http/errors';
import type { LoadedModel } from './loaded-model';
import { loadOrt, wasmMemoryBytes } from './ort';

type Ort = ReturnType<typeof loadOrt>;
type Session = Awaited<ReturnType<Ort['InferenceSession']['create']>>;

/** Texts per ONNX run; a call with more texts makes several runs. */
export const TEXT_BATCH_SIZE = 32;

export interface TextEmbeddings {
  model: ModelManifest;
  /** L2-normalised, `model.projection_dim` floats each, in input order. */
  embeddings: Float32Array[];
  /** Per input: true when it was cut to the model's max length. */
  truncated: boolean[];
  /** Per input: tokens fed to the tower, [CLS] and [SEP] included. */
  tokenCounts: number[];
}

const sessions = new Map<string, Promise<Session>>();
let queue: Promise<unknown> = Promise.resolve();
let runs = 0;

/** One session per tower (keyed by identity): a tower republished under the same version gets a new one. */
function getSession(env: Env, model: LoadedModel): Promise<Session> {
  const key = model.identity;
  let session = sessions.get(key);
  if (!session) {
    releaseOtherTowers(model);
    session = (async () => {
      const tower = await model.textTowerFiles(env);
      // Created in the queue too: the single wasm instance never interleaves two operations.
      return serialised(() =>
        loadOrt().InferenceSession.create(tower.model, {
          executionProviders: ['wasm'],
          graphOptimizationLevel: 'all',
          // External data is copied straight into the weights' tensors (docs/model-package.md).
          ...(tower.externalData ? { externalData: tower.externalData } : {}),
        }),
      );
    })();
    sessions.set(key, session);
    // A failed load is not cached: the next call tries again.
    session.catch(() => sessions.delete(key));
  }
  return session;
}

/** A model republished (new version or new tower) no longer needs the old tower's session. */
function releaseOtherTowers(model: LoadedModel): void {
  for (const [key, stale] of sessions) {
    if (key.startsWith(`${model.id}@`) && key.endsWith(`:${model.variant}`)) {
      sessions.delete(key);
      // Released after the runs already queued on it.
      serialised(async () => (await stale).release()).catch(() => undefined);
    }
  }
}

/** Runs `task` after every run queued before it. */
function serialised<T>(task: () => Promise<T>): Promise<T> {
  const result = queue.then(task, task);
  queue = result.catch(() => undefined);
  return result;
}

async function runBatch(
  session: Session,
  manifest: ModelManifest,
  tokenizer: TextTokenizer,
  rows: TokenizedText[],
): Promise<Float32Array[]> {
  const ort = loadOrt();
  const batch = tokenizer.pad(rows);
  const dims = [batch.batch, batch.length];
  const feeds = {
    input_ids: new ort.Tensor('int64', batch.inputIds, dims),
    attention_mask: new ort.Tensor('int64', batch.attentionMask, dims),
  };
  const output = await serialised(async () => {
    runs++;
    return session.run(feeds);
  });
  const embeds = output.text_embeds;
  const dim = manifest.projection_dim;
  if (embeds?.type !== 'float32' || embeds.dims.join() !== `${batch.batch},${dim}`) {
    throw new Error(`text tower of ${manifest.id} returned ${embeds?.type} [${embeds?.dims.join()}]`);
  }
  const data = embeds.data as Float32Array;
  const vectors = rows.map((_, i) => data.slice(i * dim, (i + 1) * dim));
  for (const tensor of Object.values(output)) tensor.dispose();
  return vectors;
}

/**
 * Embeds texts with the model's text tower, in the handle's variant (tokenised by the package
 * rule, truncated to its max length); 422 for a model whose text tower is on the encoder.
 */
export async function embedTexts(
  env: Env,
  model: LoadedModel,
  texts: readonly string[],
): Promise<TextEmbeddings> {
  const { manifest } = model;
  if (manifest.text.placement !== 'edge') {
    throw new ApiError(
      422,
      'text_tower_not_at_edge',
      `model ${manifest.id} embeds text on the encoder function, not at the edge`,
    );
  }
  const tokenizer = await model.tokenizer(env);
  const tokenized = texts.map((t) => tokenizer.encode(t));
  const session = await getSession(env, model);
  const embeddings: Float32Array[] = [];
  for (let start = 0; start < tokenized.length; start += TEXT_BATCH_SIZE) {
    const rows = tokenized.slice(start, start + TEXT_BATCH_SIZE);
    embeddings.push(...(await runBatch(session, manifest, tokenizer, rows)));
  }
  return {
    model: manifest,
    embeddings,
    truncated: tokenized.map((t) => t.truncated),
    tokenCounts: tokenized.map((t) => t.ids.length),
  };
}

/** Runtime figures for the health and debug routes. */
export function textTowerStats(): { sessions: string[]; runs: number; wasmMemoryBytes: number } {
  return { sessions: [...sessions.keys()], runs, wasmMemoryBytes: wasmMemoryBytes() };
}
