/**
 * A free loopback TCP port, for a process that must be told its port before it starts (wrangler
 * dev takes `--port`; a restarted encoder keeps its port).
 *
 * Hand-written because the usual answer, listen on port 0 and close, hands out a port from the
 * kernel's ephemeral range: the same range every outgoing connection of the machine takes its
 * local port from. Under a test run (many stacks, thousands of fetches) such a port was taken by
 * a connection between the choice and wrangler's bind, and a stack failed to start with "Address
 * already in use". A port below that range is never given to an outgoing connection, so a random
 * one there that binds now stays free unless another process picks the same number on purpose.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Lowest port this picks from; the top is just under the ephemeral range. */
const LOWEST = 20_000;

/** The first port of the kernel's ephemeral range (Linux), or undefined where it cannot be read. */
function ephemeralStart(): number | undefined {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const start = Number(low);
    return Number.isInteger(start) && start > LOWEST + 1000 ? start : undefined;
  } catch {
    return undefined;
  }
}

/** Binds 127.0.0.1:port (0: any) and closes it again; the port bound, or undefined if it was taken. */
function tryPort(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE' || error.code === 'EACCES') resolve(undefined);
      else reject(error);
    });
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as { port: number }).port;
      server.close(() => resolve(bound));
    });
  });
}

/** A port that was free on 127.0.0.1 a moment ago, outside the ephemeral range where there is one. */
export async function freePort(): Promise<number> {
  const top = ephemeralStart();
  if (top !== undefined) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = await tryPort(LOWEST + Math.floor(Math.random() * (top - LOWEST)));
      if (port !== undefined) return port;
    }
  }
  const port = await tryPort(0);
  if (port === undefined) throw new Error('no free port on 127.0.0.1');
  return port;
}
