/**
 * The text tokeniser of a model package: Hugging Face `tokenizer.json` read by
 * @huggingface/tokenizers, plus the package's rule (docs/model-package.md): encode without
 * special tokens, cut to `max_length - 2` tokens, wrap as `[CLS] … [SEP]`. Runtime-free.
 *
 * A BertNormalizer / BertPreTokenizer in tokenizer.json runs as Python `tokenizers` runs it
 * (src/core/bert-text.ts: the JS library's own differs on astral CJK and on newer Unicode), so the
 * ids are the seed's for every input; test/fixtures/tokenizer's golden table holds it.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { type BertNormalizerConfig, SeedBertNormalizer, SeedBertPreTokenizer } from './bert-text';

export interface TokenizerSpec {
  pad_token_id: number;
  cls_token_id: number;
  sep_token_id: number;
  unk_token_id: number;
}

export interface TokenizedText {
  /** `[CLS] … [SEP]`, unpadded. */
  ids: number[];
  /** True when tokens were cut to fit `maxLength`. */
  truncated: boolean;
}

/** A padded batch in the text tower's input layout (int64 `[batch, length]`). */
export interface TokenBatch {
  batch: number;
  length: number;
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
}

export class TextTokenizer {
  private readonly tokenizer: Tokenizer;

  constructor(
    tokenizerJson: unknown,
    readonly spec: TokenizerSpec,
    readonly maxLength: number,
  ) {
    if (!Number.isInteger(maxLength) || maxLength < 2)
      throw new Error(`max length ${maxLength} leaves no room`);
    if (typeof tokenizerJson !== 'object' || tokenizerJson === null || !('model' in tokenizerJson)) {
      throw new Error('tokenizer.json has no model');
    }
    this.tokenizer = new Tokenizer(tokenizerJson, {});
    const { normalizer, pre_tokenizer } = tokenizerJson as { normalizer?: unknown; pre_tokenizer?: unknown };
    if (isType(normalizer, 'BertNormalizer')) {
      this.tokenizer.normalizer = new SeedBertNormalizer(normalizer as BertNormalizerConfig);
    }
    if (isType(pre_tokenizer, 'BertPreTokenizer')) this.tokenizer.pre_tokenizer = new SeedBertPreTokenizer();
    this.checkSpecial('cls_token_id', '[CLS]');
    this.checkSpecial('sep_token_id', '[SEP]');
    this.checkSpecial('pad_token_id', '[PAD]');
  }

  private checkSpecial(field: keyof TokenizerSpec, token: string): void {
    const id = this.tokenizer.token_to_id(token);
    if (id !== undefined && id !== this.spec[field]) {
      throw new Error(`tokenizer.json has ${token}=${id} but the manifest says ${field}=${this.spec[field]}`);
    }
  }

  /** Tokenises one text by the package rule. */
  encode(text: string): TokenizedText {
    const body = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    const room = this.maxLength - 2;
    const truncated = body.length > room;
    const kept = truncated ? body.slice(0, room) : body;
    return { ids: [this.spec.cls_token_id, ...kept, this.spec.sep_token_id], truncated };
  }

  /** Pads tokenised texts to the longest one (`pad_token_id`, mask 0). */
  pad(texts: readonly TokenizedText[]): TokenBatch {
    return padBatch(
      texts.map((t) => t.ids),
      this.spec.pad_token_id,
    );
  }
}

function isType(config: unknown, type: string): boolean {
  return typeof config === 'object' && config !== null && (config as { type?: unknown }).type === type;
}

/** Pads id lists to the longest one, row-major, as the ONNX text tower expects. */
export function padBatch(rows: readonly (readonly number[])[], padId: number): TokenBatch {
  const length = rows.reduce((max, r) => Math.max(max, r.length), 0);
  const inputIds = new BigInt64Array(rows.length * length).fill(BigInt(padId));
  const attentionMask = new BigInt64Array(rows.length * length);
  rows.forEach((row, r) => {
    row.forEach((id, t) => {
      inputIds[r * length + t] = BigInt(id);
      attentionMask[r * length + t] = 1n;
    });
  });
  return { batch: rows.length, length, inputIds, attentionMask };
}
