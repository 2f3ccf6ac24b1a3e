/**
 * A loopback HTTP server for the images that webhook events name by URL, for the indexing
 * end-to-end tests and `npm run bench:index` (the encoder started by scripts/stack fetches from it:
 * its URL allow-list names 127.0.0.1). Unknown paths are 404; requests are counted by path.
 */
import { createServer, type Server } from 'node:http';

export interface ImageServer {
  url: string;
  /** Serves `bytes` at `/<name>` (`content-type` image/png unless given); returns its URL. */
  put: (name: string, bytes: Uint8Array, contentType?: string) => string;
  /** Requests served, by path. */
  hits: Map<string, number>;
  close: () => Promise<void>;
}

/** Starts the server on a free loopback port. */
export async function startImageServer(): Promise<ImageServer> {
  const files = new Map<string, { bytes: Uint8Array; type: string }>();
  const hits = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const file = files.get(path);
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res
      .writeHead(200, { 'content-type': file.type, 'content-length': file.bytes.byteLength })
      .end(file.bytes);
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    hits,
    put: (name, bytes, contentType = 'image/png') => {
      files.set(`/${name}`, { bytes, type: contentType });
      return `${url}/${name}`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
