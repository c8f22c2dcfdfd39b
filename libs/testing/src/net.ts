import { createServer } from 'node:net';

/** A TCP port free on the loopback right now (for a server or process that needs its port before it starts). */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
