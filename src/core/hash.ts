/** SHA-256 through Web Crypto (the same API in workerd and Node), as bytes or lowercase hex. */

const encoder = new TextEncoder();

const asBytes = (data: Uint8Array | ArrayBuffer | string): Uint8Array =>
  typeof data === 'string' ? encoder.encode(data) : data instanceof Uint8Array ? data : new Uint8Array(data);

export async function sha256Bytes(data: Uint8Array | ArrayBuffer | string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', asBytes(data)));
}

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

export async function sha256Hex(data: Uint8Array | ArrayBuffer | string): Promise<string> {
  return toHex(await sha256Bytes(data));
}
