/**
 * Starts the real encoder process (`src/encoder/main.ts`, through the local-stack launcher in
 * scripts/stack) on a free loopback port for a test file, with the settings the test needs, and
 * stops it afterwards.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startEncoder as launchEncoder } from '../../../scripts/stack/index';
import type {
  EmbeddedImage,
  FailedImage,
  ImageAnswer,
  TextItem,
} from '../../../src/core/contract/encoder-api';
import { cosine } from '../../../src/core/vector';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const MODEL_DIR = `${ROOT}models/koclip-tiny/`;
export const TOKEN = 'test-token-0123456789';

export interface RunningEncoder {
  url: string;
  logs: () => string;
  stop: () => Promise<void>;
  /** fetch against the service with the bearer token (unless `auth: false`). */
  call: (path: string, init?: RequestInit & { auth?: boolean }) => Promise<Response>;
}

export async function startEncoder(env: Record<string, string> = {}): Promise<RunningEncoder> {
  const encoder = await launchEncoder({
    token: TOKEN,
    threads: 1,
    env: { ENCODER_MODELS_DIR: `${ROOT}models`, ENCODER_MODELS: 'koclip-tiny', ...env },
  });
  return {
    url: encoder.url,
    logs: encoder.logs,
    stop: encoder.stop,
    call: (path, init = {}) => {
      const { auth = true, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (auth) headers.set('authorization', `Bearer ${TOKEN}`);
      return fetch(`${encoder.url}${path}`, { ...rest, headers });
    },
  };
}

export function readModelJson<T>(file: string): T {
  return JSON.parse(readFileSync(`${MODEL_DIR}${file}`, 'utf8')) as T;
}

export { cosine };

/**
 * An answer of the encoder as the tests read it: the contract's fields
 * (src/core/contract/encoder-api.ts), every item's optional. Tests parse answers with the
 * contract's schemas into it, so an answer that breaks the contract fails them.
 */
export type EmbedAnswer = Omit<ImageAnswer, 'data'> & {
  data: Array<Partial<EmbeddedImage & FailedImage & TextItem>>;
};
