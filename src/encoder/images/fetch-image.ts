/**
 * SSRF-safe image download: http(s) only; literal addresses checked before connecting; host
 * names resolved by a lookup hook that checks every resolved address and connects only to a
 * checked one (no second lookup to race); every redirect re-checked; size and time limits.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { EncoderError } from '../http/errors';
import type { UrlGuard } from './url-guard';

export interface FetchLimits {
  timeoutMs: number;
  maxBytes: number;
  maxRedirects: number;
}

/** Parses and checks one URL's form (400 for anything but an absolute http(s) URL). */
export function parseImageUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new EncoderError(400, 'bad_url', 'not an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new EncoderError(400, 'bad_url', `only http and https URLs are fetched, not ${url.protocol}`);
  }
  if (url.username || url.password)
    throw new EncoderError(400, 'bad_url', 'URLs with credentials are refused');
  return url;
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

function guardedLookup(guard: UrlGuard): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 4);
      try {
        if (addresses.length === 0)
          throw new EncoderError(502, 'fetch_failed', `${hostname} has no addresses`);
        for (const a of addresses) guard.checkAddress(hostname, a.address);
      } catch (refusal) {
        return callback(refusal as NodeJS.ErrnoException, '', 4);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0] as LookupAddress;
      callback(null, first.address, first.family);
    });
  };
}

function request(url: URL, guard: UrlGuard, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const req = client.get(url, {
      lookup: guardedLookup(guard),
      signal,
      agent: false,
      headers: { accept: 'image/*', 'user-agent': 'koclip-encoder/1' },
    });
    req.once('response', resolve);
    req.once('error', reject);
  });
}

async function readBody(res: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) {
      res.destroy();
      throw new EncoderError(413, 'image_too_large', `the image at the URL is larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  const out = Buffer.concat(chunks, total);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Downloads an image, following at most `maxRedirects` redirects, each one checked again. */
export async function fetchImage(raw: string, guard: UrlGuard, limits: FetchLimits): Promise<Uint8Array> {
  let url = parseImageUrl(raw);
  const signal = AbortSignal.timeout(limits.timeoutMs);
  try {
    for (let hop = 0; ; hop++) {
      const host = hostOf(url);
      guard.checkHostName(host);
      if (isIP(host)) guard.checkAddress(host, host);
      const res = await request(url, guard, signal);
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (hop >= limits.maxRedirects)
          throw new EncoderError(502, 'too_many_redirects', `more than ${limits.maxRedirects} redirects`);
        url = parseImageUrl(new URL(res.headers.location, url).href);
        continue;
      }
      if (status !== 200) {
        res.resume();
        throw new EncoderError(502, 'upstream_status', `the image URL answered HTTP ${status}`);
      }
      const length = Number(res.headers['content-length']);
      if (Number.isFinite(length) && length > limits.maxBytes) {
        res.destroy();
        throw new EncoderError(
          413,
          'image_too_large',
          `the image at the URL is ${length} bytes; the limit is ${limits.maxBytes}`,
        );
      }
      return await readBody(res, limits.maxBytes);
    }
  } catch (error) {
    if (error instanceof EncoderError) throw error;
    if (signal.aborted)
      throw new EncoderError(
        504,
        'fetch_timeout',
        `the image URL did not answer within ${limits.timeoutMs} ms`,
      );
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new EncoderError(502, 'fetch_failed', `fetching the image URL failed (${code})`);
  }
}
