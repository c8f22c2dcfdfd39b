/** Which store a failure says is out of reach, if any: an outage answers 503 naming it, never 500. */
export type Store = 'redis' | 'postgres';

export const STORE_NAMES: Record<Store, string> = {
  redis: 'the queue store (Redis)',
  postgres: 'the database (PostgreSQL)',
};

/** Seconds a caller should wait before trying again after an outage answer. */
export const OUTAGE_RETRY_AFTER_S = 2;

// ioredis' words for a connection that is down or not back yet (it queues nothing: enableOfflineQueue is off).
const REDIS_DOWN = /Stream isn't writeable|Connection is closed|Reached the max retries per request limit|enableOfflineQueue/i;
// Prisma's codes for an unreachable or closed database, and the server's own while it starts or stops.
const PRISMA_DOWN = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
const PG_DOWN = new Set(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006']);
const NET_DOWN = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND']);
const PG_DOWN_TEXT = /Connection terminated|connection terminated|the database system is (starting up|shutting down)|terminating connection|Can't reach database server|Server has closed the connection|Timed out fetching a new connection/i;

/** Thrown by a client that knows its store is out of reach before it even tries (see RefreshQueueService). */
export class StoreUnavailable extends Error {
  override readonly name = 'StoreUnavailable';
  constructor(
    readonly store: Store,
    message: string,
  ) {
    super(message);
  }
}

type Failure = { name?: string; message?: string; code?: string; cause?: unknown; meta?: { driverAdapterError?: { cause?: { originalCode?: string; kind?: string } } } };

/** The store a failure points at: ioredis' and Prisma's or node-postgres' errors for a connection that is gone. */
export function outageOf(e: unknown, depth = 0): Store | null {
  if (!e || typeof e !== 'object' || depth > 3) return null;
  const err = e as Failure;
  const message = err.message ?? '';
  if (e instanceof StoreUnavailable) return e.store;
  if (err.name === 'MaxRetriesPerRequestError' || REDIS_DOWN.test(message)) return 'redis';
  if (err.code && PRISMA_DOWN.has(err.code)) return 'postgres';
  const original = err.meta?.driverAdapterError?.cause?.originalCode;
  if (original && (PG_DOWN.has(original) || NET_DOWN.has(original))) return 'postgres';
  if (err.code && PG_DOWN.has(err.code)) return 'postgres';
  if (PG_DOWN_TEXT.test(message) || err.name === 'DriverAdapterError' && NET_DOWN.has(String((err.cause as Failure | undefined)?.code ?? ''))) return 'postgres';
  return outageOf(err.cause, depth + 1);
}
