/**
 * The package's tokenisation rule (docs/model-package.md) over the maintained Hugging Face
 * tokenizer: encode without special tokens, cut to max_length - 2, wrap as [CLS] ... [SEP].
 */
import { Tokenizer } from '@huggingface/tokenizers';
import type { ModelManifest } from '../core/manifest';

export interface TokenizedText {
  ids: number[];
  /** True when the text had more tokens than the model's max length allows. */
  truncated: boolean;
}

export class TextTokenizer {
  readonly maxLength: number;
  readonly padId: number;
  #tokenizer: Tokenizer;
  #cls: number;
  #sep: number;

  constructor(tokenizerJson: unknown, config: Record<string, unknown>, manifest: ModelManifest) {
    this.#tokenizer = new Tokenizer(tokenizerJson as object, {
      tokenizer_class: 'BertTokenizer',
      do_lower_case: false,
      ...config,
    });
    this.maxLength = manifest.text.max_length;
    this.padId = manifest.tokenizer.pad_token_id;
    this.#cls = manifest.tokenizer.cls_token_id;
    this.#sep = manifest.tokenizer.sep_token_id;
  }

  encode(text: string): TokenizedText {
    const body = this.#tokenizer.encode(text, { add_special_tokens: false }).ids;
    const room = this.maxLength - 2;
    return { ids: [this.#cls, ...body.slice(0, room), this.#sep], truncated: body.length > room };
  }
}
