/**
 * A fault-injecting HTTP proxy for the end-to-end tests, put between the Worker and the real
 * encoder: of the calls to `/v1/*`, a share answers 503 (after reading the request), a share
 * never answers (held until the client gives up, or `holdMs`), and the rest are forwarded. While
 * the encoder is down the proxy drops the connection, as an unreachable host would. Decisions
 * come from a seeded PRNG so a run is repeatable. `/healthz` is always forwarded.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { mulberry32 } from '../../../src/core/random';

export interface FaultProxy {
  url: string;
  counts: { calls: number; failed: number; hung: number; forwarded: number; dropped: number };
  /** Turns the faults off (everything forwarded) or on again. */
  setFaults: (on: boolean) => void;
  close: () => Promise<void>;
}

export async function startFaultProxy(options: {
  target: string;
  failRate: number;
  hangRate: number;
  holdMs?: number;
  seed?: number;
}): Promise<FaultProxy> {
  const target = new URL(options.target);
  const random = mulberry32(options.seed ?? 12345);
  const counts = { calls: 0, failed: 0, hung: 0, forwarded: 0, dropped: 0 };
  let faults = true;
  const sockets = new Set<Socket>();

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    counts.forwarded++;
    const upstream = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      // The encoder is down (restarting): drop the client's connection like an unreachable host.
      counts.dropped++;
      req.socket.destroy();
    });
    req.pipe(upstream);
  };

  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (!faults || !path.startsWith('/v1/')) return forward(req, res);
    counts.calls++;
    const r = random();
    if (r < options.failRate) {
      counts.failed++;
      req.resume();
      req.on('end', () => {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error: { code: 'injected_fault', message: 'the fault proxy failed this call' } }),
        );
      });
      return;
    }
    if (r < options.failRate + options.hangRate) {
      counts.hung++;
      req.resume();
      const timer = setTimeout(() => req.socket.destroy(), options.holdMs ?? 20_000);
      req.socket.once('close', () => clearTimeout(timer));
      return;
    }
    forward(req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    setFaults: (on) => {
      faults = on;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
