// pg-gateway's Node entry ('pg-gateway/node') is declared in its package exports, which this workspace's
// `moduleResolution: node` does not read: its one function, typed with the package's own types.
declare module 'pg-gateway/node' {
  import type { Socket } from 'node:net';
  import type { PostgresConnection, PostgresConnectionOptions } from 'pg-gateway';
  export function fromNodeSocket(socket: Socket, options?: PostgresConnectionOptions): Promise<PostgresConnection>;
}
