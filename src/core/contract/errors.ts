/**
 * The error envelope both services answer with: `{ "error": { "code", "message" } }`. The Worker
 * and the encoder build it here, and the Worker's encoder client parses the encoder's with the
 * same schema (docs/encoder-contract.md).
 */
import { z } from 'zod';

export const ErrorEnvelopeSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export type ErrorEnvelope = z.infer<typeof ErrorEnvelopeSchema>;

export function errorEnvelope(code: string, message: string): ErrorEnvelope {
  return { error: { code, message } };
}
