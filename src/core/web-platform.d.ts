/**
 * The Web platform APIs core may use: those that workerd and Node both have as globals. Declared
 * here (only for core's own type check, src/core/tsconfig.json) instead of loading either
 * runtime's types, so that core stays runtime-free by construction.
 */
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  decode(input?: ArrayBufferView | ArrayBuffer): string;
}
interface CryptoKey {
  readonly type: string;
}
declare const crypto: {
  subtle: {
    digest(algorithm: 'SHA-256', data: ArrayBufferView | ArrayBuffer): Promise<ArrayBuffer>;
    importKey(
      format: 'raw',
      keyData: ArrayBufferView | ArrayBuffer,
      algorithm: { name: 'HMAC'; hash: 'SHA-256' },
      extractable: boolean,
      usages: 'sign'[],
    ): Promise<CryptoKey>;
    sign(algorithm: 'HMAC', key: CryptoKey, data: ArrayBufferView | ArrayBuffer): Promise<ArrayBuffer>;
  };
  getRandomValues<T extends ArrayBufferView>(array: T): T;
};
declare function atob(data: string): string;
declare function btoa(data: string): string;
