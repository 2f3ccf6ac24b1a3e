/**
 * koclip-tiny's weights published to the local R2 under other model ids (same version), with the
 * placement, default variant and text towers a test needs, and the reference numbers of each of
 * its text towers (the real int8 and fp32 ONNX files, run at the edge). Tests of which tower
 * answers (tower-switch, score text variants) serve these packages and hold answers to these.
 */
import { env } from 'cloudflare:workers';
import manifestJson from '../../../models/koclip-tiny/manifest.json';
import textFp32 from '../../../models/koclip-tiny/text-fp32.onnx';
import textInt8 from '../../../models/koclip-tiny/text-int8.onnx';
import tokenizerJson from '../../../models/koclip-tiny/tokenizer.json';
import { sha256Hex } from '../../../src/core/hash';
import { type ModelManifest, parseManifest, type TextVariant } from '../../../src/core/manifest';
import { loadModel, modelFileKey, modelManifestKey } from '../../../src/edge/inference/model-registry';
import { embedTexts } from '../../../src/edge/inference/text-tower';

export const tiny = parseManifest(manifestJson);

/** An edge package of koclip-tiny's weights with both text towers: `reference` runs it. */
export const TOWERS = 'koclip-towers';

/**
 * Publishes koclip-tiny's weights as `id` (same version) with its text towers (`variants`, both
 * unless given; the manifest then lists only those); returns the manifest.
 */
export async function publishTiny(
  id: string,
  text: { placement: 'edge' | 'function'; defaultVariant: TextVariant; variants?: TextVariant[] },
): Promise<ModelManifest> {
  const tokenizerBytes = new TextEncoder().encode(JSON.stringify(tokenizerJson));
  const manifest = structuredClone(tiny);
  manifest.id = id;
  manifest.text.placement = text.placement;
  manifest.text.default_variant = text.defaultVariant;
  const variants = text.variants ?? ['fp32', 'int8'];
  if (!variants.includes('fp32')) delete manifest.text.files.fp32;
  if (!variants.includes('int8')) delete manifest.text.files.int8;
  manifest.files['tokenizer.json'] = {
    sha256: await sha256Hex(tokenizerBytes),
    bytes: tokenizerBytes.length,
  };
  await env.MODELS_BUCKET.put(modelManifestKey(id), JSON.stringify(manifest));
  await env.MODELS_BUCKET.put(modelFileKey(manifest, 'tokenizer.json'), tokenizerBytes);
  await env.MODELS_BUCKET.put(modelFileKey(manifest, 'text-int8.onnx'), textInt8);
  await env.MODELS_BUCKET.put(modelFileKey(manifest, 'text-fp32.onnx'), textFp32);
  return manifest;
}

/** The embeddings of `texts` by koclip-tiny's `variant` text tower (publish TOWERS first). */
export async function reference(texts: string[], variant: TextVariant): Promise<Float32Array[]> {
  return (await embedTexts(env, await loadModel(env, TOWERS, variant), texts)).embeddings;
}
