/** A free loopback TCP port, for a process that must be told its port before it starts. */
import { createServer } from 'node:net';

/** A port that was free on 127.0.0.1 a moment ago (the OS picks it; another process may still take it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
