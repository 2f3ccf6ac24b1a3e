/**
 * URL fetching is SSRF-safe: real HTTP servers on 127.0.0.1 are refused by default and reached
 * only when allow-listed; literal private and metadata addresses are refused before any
 * connection; redirects are re-checked; download size and time are limited.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ErrorAnswerSchema,
  ImageAnswerSchema,
  ITEM_ERROR_STATUS,
  type ItemError,
} from '../../../src/core/contract/encoder-api';
import { refusalReason, UrlGuard } from '../../../src/encoder/images/url-guard';
import { type EmbedAnswer, type RunningEncoder, startEncoder } from '../support/service-process';

let server: Server;
let origin: string;
let image: Buffer;
const hits: string[] = [];

beforeAll(async () => {
  image = await sharp({ create: { width: 90, height: 60, channels: 3, background: '#a05020' } })
    .png()
    .toBuffer();
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const path = req.url ?? '/';
    if (path === '/ok.png') return res.writeHead(200, { 'content-type': 'image/png' }).end(image);
    if (path === '/to-ok') return res.writeHead(302, { location: '/ok.png' }).end();
    if (path === '/to-metadata')
      return res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    if (path === '/loop') return res.writeHead(302, { location: '/loop' }).end();
    if (path === '/big') return res.writeHead(200, { 'content-length': '150000' }).end(Buffer.alloc(150_000));
    if (path === '/big-chunked') {
      res.writeHead(200, { 'content-type': 'image/png' });
      for (let i = 0; i < 20; i++) res.write(Buffer.alloc(10_000));
      return res.end();
    }
    if (path === '/slow') return; // never answers
    if (path === '/page') return res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hi</html>');
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

/** A 200 answer, or an error answer with no `data`: both parsed with the contract's schemas. */
type UrlAnswer = { status: number; body: EmbedAnswer & { error?: ItemError } };

async function embedUrls(encoder: RunningEncoder, urls: string[]): Promise<UrlAnswer> {
  const res = await encoder.call('/v1/embed/image', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ urls }),
  });
  const json = await res.json();
  if (res.ok) return { status: res.status, body: ImageAnswerSchema.parse(json) };
  const { error } = ErrorAnswerSchema.parse(json);
  // Alone, a URL's failure answers the status the Worker reads for its code inside a batch.
  if (error.code in ITEM_ERROR_STATUS) expect(res.status).toBe(ITEM_ERROR_STATUS[error.code]);
  return { status: res.status, body: { error } as UrlAnswer['body'] };
}

describe('address classification', () => {
  it.each([
    '127.0.0.1',
    '127.1.2.3',
    '10.0.0.1',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.0.1',
    '169.254.169.254',
    '100.64.0.1',
    '100.100.100.200',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:a9fe:a9fe',
    '64:ff9b::a9fe:a9fe',
    '2002:a00:1::',
    'fe80::1',
    'fd00:ec2::254',
    'fc00::1',
    'ff02::1',
  ])('%s is refused', (address) => expect(refusalReason(address)).toEqual(expect.any(String)));

  it.each(['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8', '172.32.0.1'])(
    '%s is public',
    (address) => expect(refusalReason(address)).toBeUndefined(),
  );

  it('the allow-list takes CIDRs, addresses and host names', () => {
    const guard = new UrlGuard(['10.0.0.0/8', '::1', 'images.internal']);
    expect(() => guard.checkAddress('a', '10.9.8.7')).not.toThrow();
    expect(() => guard.checkAddress('a', '::ffff:10.9.8.7')).not.toThrow();
    expect(() => guard.checkAddress('a', '::1')).not.toThrow();
    expect(() => guard.checkAddress('images.internal', '192.168.1.1')).not.toThrow();
    expect(() => guard.checkAddress('a', '192.168.1.1')).toThrow(/private/);
    expect(() => guard.checkAddress('a', '127.0.0.1')).toThrow(/private/);
  });
});

describe('default policy: private addresses refused', () => {
  let encoder: RunningEncoder;
  beforeAll(async () => {
    encoder = await startEncoder({ ENCODER_FETCH_TIMEOUT_MS: '5000' });
  });
  afterAll(() => encoder.stop());

  it('a real server on 127.0.0.1 is refused with 403 and never contacted', async () => {
    hits.length = 0;
    const { status, body } = await embedUrls(encoder, [`${origin}/ok.png`]);
    expect(status).toBe(403);
    expect(body.error?.code).toBe('url_refused');
    expect(hits).toEqual([]);
  });

  it('a host name resolving to loopback (localhost) is refused after DNS, never contacted', async () => {
    hits.length = 0;
    const port = new URL(origin).port;
    const { status, body } = await embedUrls(encoder, [`http://localhost:${port}/ok.png`]);
    expect({ status, code: body.error?.code }).toEqual({ status: 403, code: 'url_refused' });
    expect(hits).toEqual([]);
  });

  it.each([
    'http://10.1.2.3/a.png',
    'http://172.16.5.4/a.png',
    'http://192.168.1.1/a.png',
    'http://169.254.169.254/latest/meta-data/',
    'http://100.100.100.200/latest/meta-data/',
    'http://0.0.0.0/a.png',
    'http://224.0.0.1/a.png',
    'http://2130706433/a.png',
    'http://0x7f.0.0.1/a.png',
    'http://[::1]/a.png',
    'http://[::]/a.png',
    'http://[::ffff:127.0.0.1]/a.png',
    'http://[::ffff:169.254.169.254]/a.png',
    'http://[64:ff9b::a9fe:a9fe]/a.png',
    'http://[fe80::1]/a.png',
    'http://[fd00:ec2::254]/latest/meta-data/',
    'http://metadata.google.internal/computeMetadata/v1/',
  ])('%s is refused at once (no connection attempt)', async (url) => {
    const started = performance.now();
    const { status, body } = await embedUrls(encoder, [url]);
    expect({ status, code: body.error?.code }).toEqual({ status: 403, code: 'url_refused' });
    // Connecting to an unroutable address would hang until the 5 s fetch timeout.
    expect(performance.now() - started).toBeLessThan(1500);
  });

  it('in a batch of URLs each refusal is its own item', async () => {
    const { status, body } = await embedUrls(encoder, [
      `${origin}/ok.png`,
      'gopher://x/',
      'http://10.0.0.1/',
    ]);
    expect(status).toBe(200);
    expect(body.data.map((d) => d.error?.code)).toEqual(['url_refused', 'bad_url', 'url_refused']);
  });
});

describe('allow-listed loopback', () => {
  let encoder: RunningEncoder;
  beforeAll(async () => {
    encoder = await startEncoder({
      ENCODER_URL_ALLOWLIST: '127.0.0.1/32',
      ENCODER_FETCH_TIMEOUT_MS: '1000',
      ENCODER_MAX_IMAGE_BYTES: '100000',
    });
  });
  afterAll(() => encoder.stop());

  it('fetches and embeds the image', async () => {
    const { status, body } = await embedUrls(encoder, [`${origin}/ok.png`]);
    expect(status).toBe(200);
    expect(body.data[0]).toMatchObject({ index: 0, width: 90, height: 60 });
    expect(body.data[0]?.sha256).toBe(createHash('sha256').update(image).digest('hex'));
  });

  it('follows a redirect to an allowed address', async () => {
    const { status } = await embedUrls(encoder, [`${origin}/to-ok`]);
    expect(status).toBe(200);
  });

  it.each([
    ['/to-metadata', 403, 'url_refused'],
    ['/loop', 502, 'too_many_redirects'],
    ['/missing', 502, 'upstream_status'],
    ['/big', 413, 'image_too_large'],
    ['/big-chunked', 413, 'image_too_large'],
    ['/slow', 504, 'fetch_timeout'],
    ['/page', 422, 'not_an_image'],
  ])('%s -> %i %s', async (path, status, code) => {
    const answer = await embedUrls(encoder, [`${origin}${path}`]);
    expect({ status: answer.status, code: answer.body.error?.code }).toEqual({ status, code });
  });
});
