/**
 * A model as one request uses it, resolved once by the registry (./model-registry.ts, `loadModel`)
 * and passed down to every layer that needs it: the manifest, the text variant it runs, the
 * tower's identity (which keys text sessions, and an `edge` tower's cached query embeddings and
 * caption scores; a `function` tower's are keyed by the tower the encoder names), its embedding space,
 * and its package files (tokenizer, text tower), read through the registry (which keeps the
 * tokenizer for the isolate).
 * The edge text tower's session is created from these files by ./text-tower.ts (the module that
 * runs text towers on onnxruntime-web); a `function`-placed tower is reached through the
 * encoder's text client (./encoder-text.ts) with `space`. Nothing below the route looks the
 * model up again: the same object answers every question about it.
 */
import type { EmbeddingSpace } from '../../core/contract/spaces';
import { embeddingSpace, type ModelManifest, type TextVariant, textTowerIdentity } from '../../core/manifest';
import type { TextTokenizer } from '../../core/tokenizer';
import type { Env } from '../env';

export type { TextVariant };

/** A text tower as onnxruntime takes it: the graph's bytes and, when its weights are kept as
 * ONNX external data, that file under the name the graph gives it. */
export interface TextTowerFiles {
  model: Uint8Array;
  externalData?: { path: string; data: Uint8Array }[];
}

/** How the registry reads a package's files for a handle (checked against the manifest). */
export interface PackageReader {
  tokenizer(env: Env): Promise<TextTokenizer>;
  textTower(env: Env, variant: TextVariant): Promise<TextTowerFiles>;
}

export class LoadedModel {
  /** model id @ version # tower files : variant (core/manifest.ts textTowerIdentity). */
  readonly identity: string;
  readonly space: EmbeddingSpace;

  constructor(
    readonly manifest: ModelManifest,
    readonly variant: TextVariant,
    private readonly reader: PackageReader,
  ) {
    this.identity = textTowerIdentity(manifest, variant);
    this.space = embeddingSpace(manifest);
  }

  get id(): string {
    return this.manifest.id;
  }

  get version(): string {
    return this.manifest.version;
  }

  /** The package's tokenizer (the registry builds it once per model version). */
  tokenizer(env: Env): Promise<TextTokenizer> {
    return this.reader.tokenizer(env);
  }

  /** The ONNX files of this handle's text tower, each checked against the manifest's sha256. */
  textTowerFiles(env: Env): Promise<TextTowerFiles> {
    return this.reader.textTower(env, this.variant);
  }
}
