import { ReadOnlyPipeline } from './pg-pipeline';
import { CopyOut } from './pg-copy';

/** A node-postgres connection that records what a submittable writes, and when the socket is corked. */
function recordingConnection() {
  const log: string[] = [];
  const message = (name: string) => (m?: { text?: string }) => log.push(m?.text ? `${name} ${m.text}` : name);
  return {
    log,
    connection: {
      stream: { cork: () => log.push('cork'), uncork: () => log.push('uncork') },
      parse: message('parse'),
      bind: message('bind'),
      describe: message('describe'),
      execute: message('execute'),
      sync: message('sync'),
    },
  };
}

describe('pipelined submittables', () => {
  it('writes a live query in one go: read-only transaction, timeout, the statement with its row limit, rollback, one sync', () => {
    const { log, connection } = recordingConnection();
    new ReadOnlyPipeline('SELECT 1', 11, 500).submit(connection);
    expect(log[0]).toBe('cork');
    expect(log.at(-1)).toBe('uncork');
    expect(log.filter((l) => l.startsWith('parse'))).toEqual(['parse BEGIN READ ONLY', 'parse SET LOCAL statement_timeout = 500', 'parse SELECT 1', 'parse ROLLBACK']);
    expect(log.filter((l) => l === 'sync')).toHaveLength(1);
    expect(log.at(-2)).toBe('sync');
  });

  it('writes a COPY in one go', () => {
    const { log, connection } = recordingConnection();
    new CopyOut('COPY (SELECT 1) TO STDOUT', 10, async () => undefined).submit(connection);
    expect(log).toEqual(['cork', 'parse COPY (SELECT 1) TO STDOUT', 'bind', 'execute', 'sync', 'uncork']);
  });
});
