#!/usr/bin/env node
// The model kit's bridge to onnxruntime and the maintained tokenizer (Python has neither here).
//   tokenize --tokenizer T.json --max-length N --in texts.json --out ids.json
//   text     --model M.onnx --in batch.json --out emb.f32     batch.json: {input_ids, attention_mask}
//   image    --model M.onnx --in pixels.f32 --size S --out emb.f32
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Tokenizer } from '@huggingface/tokenizers';
import * as ort from 'onnxruntime-node';

const CHUNK = 64;

function fail(message) {
  console.error(`onnx-run: ${message}`);
  process.exit(2);
}

const [mode, ...rest] = process.argv.slice(2);
const { values: opts } = parseArgs({
  args: rest,
  options: {
    tokenizer: { type: 'string' },
    model: { type: 'string' },
    in: { type: 'string' },
    out: { type: 'string' },
    size: { type: 'string' },
    'max-length': { type: 'string' },
  },
});
for (const key of ['in', 'out']) if (!opts[key]) fail(`--${key} is required`);

function writeF32(path, chunks) {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Float32Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  writeFileSync(path, Buffer.from(out.buffer));
}

async function session() {
  if (!opts.model) fail('--model is required');
  return ort.InferenceSession.create(opts.model, { intraOpNumThreads: 2, graphOptimizationLevel: 'all' });
}

if (mode === 'tokenize') {
  if (!opts.tokenizer || !opts['max-length']) fail('--tokenizer and --max-length are required');
  const maxLength = Number(opts['max-length']);
  const json = JSON.parse(readFileSync(opts.tokenizer, 'utf8'));
  const tok = new Tokenizer(json, { tokenizer_class: 'BertTokenizer', do_lower_case: false });
  const cls = json.model.vocab['[CLS]'];
  const sep = json.model.vocab['[SEP]'];
  const texts = JSON.parse(readFileSync(opts.in, 'utf8'));
  const ids = texts.map((t) => {
    const body = tok.encode(t, { add_special_tokens: false }).ids.slice(0, maxLength - 2);
    return [cls, ...body, sep];
  });
  writeFileSync(opts.out, JSON.stringify(ids));
} else if (mode === 'text') {
  const s = await session();
  const batch = JSON.parse(readFileSync(opts.in, 'utf8'));
  const chunks = [];
  for (let i = 0; i < batch.input_ids.length; i += CHUNK) {
    const ids = batch.input_ids.slice(i, i + CHUNK);
    const mask = batch.attention_mask.slice(i, i + CHUNK);
    const t = ids[0].length;
    const feeds = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.flat(), BigInt), [ids.length, t]),
      attention_mask: new ort.Tensor('int64', BigInt64Array.from(mask.flat(), BigInt), [ids.length, t]),
    };
    chunks.push((await s.run(feeds)).text_embeds.data);
  }
  writeF32(opts.out, chunks);
} else if (mode === 'image') {
  const size = Number(opts.size);
  if (!(size > 0)) fail('--size is required');
  const s = await session();
  const buf = readFileSync(opts.in);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const per = 3 * size * size;
  if (all.length % per !== 0) fail(`pixel file is not a whole number of ${size}x${size} images`);
  const n = all.length / per;
  const chunks = [];
  for (let i = 0; i < n; i += CHUNK) {
    const m = Math.min(CHUNK, n - i);
    const px = all.slice(i * per, (i + m) * per);
    chunks.push(
      (await s.run({ pixel_values: new ort.Tensor('float32', px, [m, 3, size, size]) })).image_embeds.data,
    );
  }
  writeF32(opts.out, chunks);
} else {
  fail(`unknown mode ${mode ?? '(none)'}; expected tokenize, text or image`);
}
