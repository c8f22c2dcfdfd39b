import pino from 'pino';
import { LIVE_FRAME_BYTES, type MemberMessage } from '@gateway/domain';
import { ConnectorError, type ConnectorCache } from '../connectors';
import { LiveWorkRunner, ResultWriter, type AnswerChannel } from './live-work';

/** A channel that records what would go out, and can hold paced sends back like a full socket. */
function channel() {
  const sent: MemberMessage[] = [];
  let release: (() => void) | null = null;
  let holding = false;
  const c: AnswerChannel & { sent: MemberMessage[]; hold(): void; flow(): void } = {
    sent,
    send: (m) => (sent.push(m), true),
    sendTextPaced: async (text) => {
      if (holding) await new Promise<void>((r) => (release = r));
      sent.push(JSON.parse(text) as MemberMessage);
      return true;
    },
    hold: () => (holding = true),
    flow: () => {
      holding = false;
      release?.();
    },
  };
  return c;
}

const row = (i: number) => [i, 'x'.repeat(1000)];

describe('ResultWriter', () => {
  it('sends a small result as one frame', async () => {
    const c = channel();
    const w = new ResultWriter('r1', c, 1_000_000, new AbortController());
    w.columns([{ name: 'n' }]);
    await w.rows([[1], [2]]);
    await w.finish(false);
    expect(c.sent).toEqual([{ t: 'result', id: 'r1', columns: [{ name: 'n' }], rows: [[1], [2]], truncated: false, executeMs: expect.any(Number) }]);
  });

  it('streams a large result as columns, rows frames of about a frame each, and end, in order', async () => {
    const c = channel();
    const w = new ResultWriter('r2', c, 64 * 1024 * 1024, new AbortController());
    w.columns([{ name: 'n' }, { name: 'pad' }]);
    for (let i = 0; i < 1000; i++) await w.rows([row(i)]);
    await w.finish(true);
    const kinds = c.sent.map((m) => m.t);
    expect(kinds[0]).toBe('columns');
    expect(kinds.at(-1)).toBe('end');
    expect(kinds.slice(1, -1).every((k) => k === 'rows')).toBe(true);
    const frames = c.sent.filter((m) => m.t === 'rows') as Extract<MemberMessage, { t: 'rows' }>[];
    expect(frames.length).toBeGreaterThanOrEqual(3);
    for (const f of frames.slice(0, -1)) expect(JSON.stringify(f).length).toBeLessThan(LIVE_FRAME_BYTES * 1.1);
    expect(frames.flatMap((f) => f.rows).map((r) => r[0])).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(c.sent.at(-1)).toMatchObject({ t: 'end', truncated: true });
  });

  it('holds the rows back while the socket is full, and sends end only after every rows frame', async () => {
    const c = channel();
    const w = new ResultWriter('r3', c, 64 * 1024 * 1024, new AbortController());
    w.columns([{ name: 'n' }, { name: 'pad' }]);
    c.hold();
    const pending = w.rows(Array.from({ length: 300 }, (_, i) => row(i)));
    expect(pending).toBeInstanceOf(Promise);
    const finished = w.finish(false);
    await new Promise((r) => setTimeout(r, 20));
    expect(c.sent.map((m) => m.t)).toEqual(['columns']);
    c.flow();
    await finished;
    expect(c.sent.map((m) => m.t)).toEqual(['columns', 'rows', 'end']);
  });

  it('stops the query and says too_large past the byte limit', async () => {
    const c = channel();
    const abort = new AbortController();
    const w = new ResultWriter('r4', c, 500_000, abort);
    w.columns([{ name: 'n' }, { name: 'pad' }]);
    let error: unknown;
    try {
      for (let i = 0; i < 2000; i++) await w.rows([row(i)]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConnectorError);
    expect((error as ConnectorError).code).toBe('too_large');
    expect(abort.signal.aborted).toBe(true);
    expect(w.overLimit).toBe(true);
  });
});

describe('LiveWorkRunner', () => {
  const log = pino({ level: 'silent' });
  const sleeping = (running: { now: number; most: number }) =>
    ({
      get: () => ({
        test: async () => undefined,
        query: async () => {
          running.now += 1;
          running.most = Math.max(running.most, running.now);
          await new Promise((r) => setTimeout(r, 20));
          running.now -= 1;
          return { columns: [{ name: 'n' }], rows: [[1]], truncated: false };
        },
      }),
    }) as unknown as ConnectorCache;
  const query = { kind: 'query' as const, dataSource: { id: 'd', name: 'd', type: 'postgres' as const, connection: {}, credentials: null, version: '1' }, sql: 'SELECT 1', maxRows: 10, timeoutMs: 1000, maxBytes: 1_000_000 };

  it('runs at most its slots at once and the rest in order, answering every one', async () => {
    const running = { now: 0, most: 0 };
    const runner = new LiveWorkRunner(sleeping(running), 3, log);
    const c = channel();
    for (let i = 0; i < 10; i++) runner.start(`q${i}`, query, c);
    expect(await runner.idle(5_000)).toBe(true);
    expect(running.most).toBe(3);
    expect(c.sent.map((m) => (m as { id: string }).id).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `q${i}`).sort());
    expect(c.sent.every((m) => m.t === 'result')).toBe(true);
  });

  it('drops what is waiting and answers nothing for work whose connection was lost', async () => {
    const running = { now: 0, most: 0 };
    const runner = new LiveWorkRunner(sleeping(running), 1, log);
    const c = channel();
    for (let i = 0; i < 5; i++) runner.start(`q${i}`, query, c);
    runner.dropAll();
    expect(await runner.idle(5_000)).toBe(true);
    expect(c.sent.length).toBeLessThanOrEqual(1);
  });

  it('answers a ping at once, and an error with the connector code', async () => {
    const failing = { get: () => ({ query: async () => Promise.reject(new ConnectorError('read_only', 'no writes')) }) } as unknown as ConnectorCache;
    const runner = new LiveWorkRunner(failing, 2, log);
    const c = channel();
    runner.start('p', { kind: 'ping' }, c);
    runner.start('e', query, c);
    await runner.idle(1_000);
    expect(c.sent).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ t: 'result', id: 'p', rows: [] }),
        expect.objectContaining({ t: 'error', id: 'e', code: 'read_only', message: 'no writes' }),
      ]),
    );
  });
});
