import { outageOf } from './outage';

describe('outageOf', () => {
  it.each([
    ["ioredis with its offline queue off", new Error("Stream isn't writeable and enableOfflineQueue options is false"), 'redis'],
    ['ioredis after its retries', Object.assign(new Error('Reached the max retries per request limit (which is 1).'), { name: 'MaxRetriesPerRequestError' }), 'redis'],
    ['ioredis on a closed connection', new Error('Connection is closed.'), 'redis'],
    ['Prisma, database unreachable', Object.assign(new Error("Can't reach database server"), { code: 'P1001' }), 'postgres'],
    ['the adapter, connection refused', Object.assign(new Error('x'), { code: 'P2010', meta: { driverAdapterError: { cause: { originalCode: 'ECONNREFUSED' } } } }), 'postgres'],
    ['node-postgres, server shutting down', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }), 'postgres'],
    ['a cause two levels down', Object.assign(new Error('wrapped'), { cause: Object.assign(new Error('wrapped again'), { cause: new Error('Connection terminated unexpectedly') }) }), 'postgres'],
  ])('names the store for %s', (_what, error, store) => {
    expect(outageOf(error)).toBe(store);
  });

  it.each([
    ['a unique violation', Object.assign(new Error('Unique constraint failed'), { code: 'P2002' })],
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['a Redis command error', Object.assign(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'), { name: 'ReplyError' })],
    ['nothing', undefined],
  ])('is not an outage: %s', (_what, error) => {
    expect(outageOf(error)).toBeNull();
  });
});
