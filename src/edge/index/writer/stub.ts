/** The writer of one index, as a Durable Object stub (the name comes from ../../storage-keys.ts). */

import type { IndexKey } from '../../../core/contract/spaces';
import type { Env } from '../../env';
import { writerName } from '../../storage-keys';
import type { IndexWriter } from './writer';

export function writerFor(env: Pick<Env, 'INDEX_WRITER'>, index: IndexKey): DurableObjectStub<IndexWriter> {
  const ns = env.INDEX_WRITER as unknown as DurableObjectNamespace<IndexWriter>;
  return ns.get(ns.idFromName(writerName(index)));
}
