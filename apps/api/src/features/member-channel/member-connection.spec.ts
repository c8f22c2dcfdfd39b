import type { WebSocket } from 'ws';
import type { ServerMessage } from '@gateway/domain';
import { MemberConnection, type LiveFrame } from './member-connection';

/** A socket that records what is sent on it. */
const socket = () => {
  const sent: ServerMessage[] = [];
  const ws = { send: (text: string) => sent.push(JSON.parse(text)), close: () => undefined, terminate: () => undefined, ping: () => undefined } as unknown as WebSocket;
  return { ws, sent };
};
const member = { memberId: 'm1', memberName: 'alpha', clusterId: 'c1', agentVersion: '0.1.0', protocol: 1 };
const result = (id: string): LiveFrame => ({ t: 'result', id, columns: [], rows: [[1]], truncated: false, executeMs: 1 });

describe('MemberConnection', () => {
  it('hands the answer of work it sent to that work, once', () => {
    const { ws, sent } = socket();
    const conn = new MemberConnection(ws, member, 'conn-1');
    const frames: LiveFrame[] = [];
    conn.startLive('q1', { kind: 'ping' }, { frame: (m) => frames.push(m), lost: () => undefined });
    expect(sent).toEqual([{ t: 'live', id: 'q1', work: { kind: 'ping' } }]);
    expect(conn.accept(result('q1'), 10)).toBeNull();
    expect(frames).toHaveLength(1);
    // A second answer for the same work is late, not foreign: dropped quietly.
    expect(conn.accept(result('q1'), 10)).toBeNull();
    expect(frames).toHaveLength(1);
  });

  it('refuses an answer for work it never sent (another member\'s, or made up)', () => {
    const conn = new MemberConnection(socket().ws, member, 'conn-1');
    expect(conn.accept(result('not-mine'), 10)).toBe("a result frame for live work not-mine, which is not this member's");
    expect(conn.accept({ t: 'refresh-end', id: 'run-x', outcome: 'done' }, 10)).toBe("the end of refresh run run-x, which is not this member's");
  });

  it('drops frames of work it cancelled without calling them foreign', () => {
    const { ws, sent } = socket();
    const conn = new MemberConnection(ws, member, 'conn-1');
    const frames: LiveFrame[] = [];
    conn.startLive('q2', { kind: 'ping' }, { frame: (m) => frames.push(m), lost: () => undefined });
    conn.cancelLive('q2');
    expect(sent.at(-1)).toEqual({ t: 'cancel', id: 'q2' });
    expect(conn.accept(result('q2'), 10)).toBeNull();
    expect(frames).toEqual([]);
  });

  it('sends every waiting request elsewhere when the connection is lost, and takes no new work', async () => {
    const conn = new MemberConnection(socket().ws, member, 'conn-1');
    const lost: string[] = [];
    conn.startLive('q3', { kind: 'ping' }, { frame: () => undefined, lost: (why) => lost.push(why) });
    const refresh = conn.runRefresh('run-1', 'r1');
    conn.lose('no heartbeat for 900 ms');
    expect(lost).toEqual(['no heartbeat for 900 ms']);
    await expect(refresh).resolves.toEqual({ outcome: 'lost', message: 'no heartbeat for 900 ms' });
    expect(conn.startLive('q4', { kind: 'ping' }, { frame: () => undefined, lost: () => undefined })).toBe(false);
    // What it sends now about the lost work is not its work any more.
    expect(conn.accept(result('q3'), 10)).toBeNull();
    expect(conn.accept({ t: 'refresh-end', id: 'run-1', outcome: 'done' }, 10)).toMatch(/not this member's/);
  });

  it('sends a data source in full once per connection and version, then only its id and version', () => {
    const { ws, sent } = socket();
    const conn = new MemberConnection(ws, member, 'conn-1');
    const ds = (version: string) => ({ id: 'ds1', name: 'pg', type: 'postgres' as const, connection: { host: 'db' }, credentials: null, version });
    const sink = { frame: () => undefined, lost: () => undefined };
    const query = (version: string) => ({ kind: 'query' as const, dataSource: ds(version), sql: 'SELECT 1', maxRows: 1, timeoutMs: 1000, maxBytes: 1000 });
    conn.startLive('q1', query('v1'), sink);
    conn.startLive('q2', query('v1'), sink);
    conn.startLive('q3', query('v2'), sink);
    const carried = sent.map((m) => (m.t === 'live' && m.work.kind === 'query' ? m.work.dataSource : null));
    expect(carried).toEqual([ds('v1'), { id: 'ds1', version: 'v1' }, ds('v2')]);
    // A new connection of the same member starts from nothing.
    const next = socket();
    new MemberConnection(next.ws, member, 'conn-2').startLive('q4', query('v2'), sink);
    expect(next.sent[0]).toMatchObject({ work: { dataSource: ds('v2') } });
  });
});
