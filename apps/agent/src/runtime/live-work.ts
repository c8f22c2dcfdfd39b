import type { Logger } from 'pino';
import { LIVE_FRAME_BYTES, type LiveKind, type LiveWork, type MemberMessage } from '@gateway/domain';
import { ConnectorError, type Column, type ConnectorCache, type RowSink } from '../connectors';

/** Where a live answer goes: the member's connection (paced for large results). */
export interface AnswerChannel {
  send(m: MemberMessage): boolean;
  /** A message already serialized, sent once the socket has room. */
  sendTextPaced(text: string): Promise<boolean>;
}

type Handler<K extends LiveKind> = (work: Extract<LiveWork, { kind: K }>, answer: ResultWriter, signal: AbortSignal) => Promise<void>;

/**
 * One live answer: a single `result` frame when it is small (most are), else `columns`, `rows` frames of about
 * LIVE_FRAME_BYTES each, sent as the rows come and paced by the socket, and `end`. Past maxBytes it stops the
 * query (too_large): neither side ever holds the whole of a large result.
 */
export class ResultWriter implements RowSink {
  private columnsOf: Column[] = [];
  private pending: unknown[][] = [];
  private pendingBytes = 0;
  private sentBytes = 0;
  private streaming = false;
  /** The result went over maxBytes: the query was stopped for that. */
  overLimit = false;
  private readonly t0 = performance.now();

  constructor(
    private readonly id: string,
    private readonly channel: AnswerChannel,
    private readonly maxBytes: number,
    private readonly abort: AbortController,
  ) {}

  private get executeMs() {
    return Math.round((performance.now() - this.t0) * 100) / 100;
  }

  columns(columns: Column[]) {
    this.columnsOf = columns;
  }

  /** A batch of rows; `rawBytes` is what they took on the wire from the engine, a cheap estimate of their size. */
  rows(batch: unknown[][], rawBytes?: number): void | Promise<void> {
    for (const r of batch) this.pending.push(r);
    this.pendingBytes += rawBytes ?? JSON.stringify(batch).length;
    if (this.pendingBytes >= LIVE_FRAME_BYTES) return this.flush();
  }

  /** Frames go out one after another, in order, whoever asks. */
  private sending: Promise<void> = Promise.resolve();

  private flush(): Promise<void> {
    this.sending = this.sending.then(() => this.sendPending());
    return this.sending;
  }

  private async sendPending() {
    if (this.pending.length === 0) return;
    if (!this.streaming) {
      this.streaming = true;
      this.channel.send({ t: 'columns', id: this.id, columns: this.columnsOf });
    }
    const frame = JSON.stringify({ t: 'rows', id: this.id, rows: this.pending } satisfies MemberMessage);
    this.pending = [];
    this.pendingBytes = 0;
    this.sentBytes += frame.length;
    if (this.sentBytes > this.maxBytes) {
      this.overLimit = true;
      this.abort.abort();
      throw tooLarge(this.maxBytes);
    }
    await this.channel.sendTextPaced(frame);
  }

  async finish(truncated: boolean) {
    await this.sending;
    if (!this.streaming && this.pendingBytes < LIVE_FRAME_BYTES) {
      this.channel.send({ t: 'result', id: this.id, columns: this.columnsOf, rows: this.pending, truncated, executeMs: this.executeMs });
      return;
    }
    await this.flush();
    this.channel.send({ t: 'end', id: this.id, truncated, executeMs: this.executeMs });
  }

  /** A described statement's parameter types (sent before its `result`). */
  params(types: number[]) {
    this.channel.send({ t: 'params', id: this.id, types });
  }

  fail(e: unknown) {
    const err = e instanceof ConnectorError ? e : new ConnectorError('query_failed', (e as Error).message);
    const { sqlstate, detail, hint, position } = err.fields;
    this.channel.send({ t: 'error', id: this.id, code: err.code, message: err.message, executeMs: this.executeMs, ...defined({ sqlstate, detail, hint, position }) });
    return err;
  }
}

const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

const tooLarge = (maxBytes: number) => new ConnectorError('too_large', `the result is over the live result limit of ${maxBytes} bytes`);

/**
 * The member's live work: a handler per kind (checked when the member starts), at most `slots` running at once
 * and the rest waiting in order, each cancellable by the control plane and all of it dropped when the connection
 * that brought it is lost (the control plane has sent it elsewhere by then).
 */
export class LiveWorkRunner {
  private readonly handlers: { [K in LiveKind]: Handler<K> };
  private readonly running = new Map<string, AbortController>();
  private readonly waiting: { id: string; work: LiveWork; channel: AnswerChannel }[] = [];
  private draining: (() => void) | null = null;

  constructor(
    private readonly connectors: ConnectorCache,
    readonly slots: number,
    private readonly log: Logger,
    /** Told whether live work on a data source reached it (see SourceHealthChecker). */
    private readonly reach?: { reached(id: string): void; unreachable(id: string, error: string): void },
    /** Told how each piece of work ended (the metrics). */
    private readonly ended?: (kind: LiveKind, outcome: string) => void,
  ) {
    this.handlers = {
      ping: async (_w, answer) => answer.finish(false),
      'test-connection': async (w, answer) => {
        await this.connectors.get(w.dataSource).test(w.timeoutMs);
        await answer.finish(false);
      },
      query: async (w, answer, signal) => {
        const result = await this.connectors.get(w.dataSource).query(w.sql, { maxRows: w.maxRows, timeoutMs: w.timeoutMs, signal, sink: answer, pg: w.pg });
        if (result.paramTypes) answer.params(result.paramTypes);
        // Engines that stream gave the sink everything already; the others hand the whole (maxRows-bounded) result
        // over, framed the same way.
        if (result.columns.length) answer.columns(result.columns);
        for (let i = 0; i < result.rows.length; i += 500) await answer.rows(result.rows.slice(i, i + 500));
        await answer.finish(result.truncated);
      },
    };
    for (const kind of ['ping', 'test-connection', 'query'] as LiveKind[]) {
      if (typeof this.handlers[kind] !== 'function') throw new Error(`no handler for live work "${kind}"`);
    }
  }

  get busy() {
    return this.running.size;
  }

  start(id: string, work: LiveWork, channel: AnswerChannel) {
    if (this.running.size >= this.slots) {
      this.waiting.push({ id, work, channel });
      return;
    }
    void this.run(id, work, channel);
  }

  cancel(id: string) {
    this.running.get(id)?.abort();
    const i = this.waiting.findIndex((w) => w.id === id);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  /** The connection is lost: nothing of what it brought is answered any more. */
  dropAll() {
    this.waiting.length = 0;
    for (const a of this.running.values()) a.abort();
  }

  /** Resolves when nothing runs any more (or after ms). */
  idle(ms: number): Promise<boolean> {
    if (this.running.size === 0 && this.waiting.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.draining = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  private async run(id: string, work: LiveWork, channel: AnswerChannel) {
    const abort = new AbortController();
    this.running.set(id, abort);
    const answer = new ResultWriter(id, channel, work.kind === 'query' ? work.maxBytes : Number.MAX_SAFE_INTEGER, abort);
    try {
      await (this.handlers[work.kind] as Handler<LiveKind>)(work as never, answer, abort.signal);
      if ('dataSource' in work) this.reach?.reached(work.dataSource.id);
      this.ended?.(work.kind, 'ok');
    } catch (e) {
      if (abort.signal.aborted && !answer.overLimit) this.ended?.(work.kind, 'cancelled');
      if (!abort.signal.aborted || answer.overLimit) {
        const err = answer.fail(answer.overLimit ? tooLarge(work.kind === 'query' ? work.maxBytes : 0) : e);
        this.ended?.(work.kind, err.code);
        const dataSourceId = 'dataSource' in work ? work.dataSource.id : undefined;
        this.log.info({ requestId: id, dataSourceId, code: err.code }, 'live work failed at the data source');
        if (dataSourceId && err.code === 'unreachable') this.reach?.unreachable(dataSourceId, err.message);
        // The source answered (with an error of its own); a write refused before connecting proves nothing.
        else if (dataSourceId && (err.code === 'query_failed' || err.code === 'timeout')) this.reach?.reached(dataSourceId);
      }
    } finally {
      this.running.delete(id);
      const next = this.waiting.shift();
      if (next) void this.run(next.id, next.work, next.channel);
      else if (this.running.size === 0 && this.draining) {
        this.draining();
        this.draining = null;
      }
    }
  }
}
