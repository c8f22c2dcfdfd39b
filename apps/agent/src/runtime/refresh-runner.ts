import { promisify } from 'node:util';
import { brotliCompress, constants as zlib } from 'node:zlib';
import type { Logger } from 'pino';
import type { MemberMessageOf, ServerMessageOf } from '@gateway/domain';
import { ApiError } from '../api-client';
import { ConnectorError, type Column, type ConnectorCache } from '../connectors';
import type { MemberApi } from './member-api';

type RefreshOrder = ServerMessageOf<'refresh'>;
type RefreshEnd = Pick<MemberMessageOf<'refresh-end'>, 'outcome' | 'message'>;

/** Rows per chunk: enough to compress well, small enough that neither side holds much. */
export const BATCH_ROWS = 5_000;
/**
 * Rows per chunk of an engine's own dump (COPY text): bytes, not decoded rows, so a batch costs a few MB at most
 * and fewer, larger chunks mean fewer requests and commits per refresh.
 */
export const RAW_BATCH_ROWS = 25_000;
const STATUS_EVERY_MS = 1_000;
/** Chunks uploading at once per refresh (each a compressed batch; the API stores them in any order). */
const UPLOADS_IN_FLIGHT = 2;

/**
 * Brotli at its fastest setting: on rows as text it compresses about as well as gzip's fastest level at about a
 * third of the CPU, which on a member host is the largest cost of a refresh after the database's own.
 */
const compress = promisify(brotliCompress);
/**
 * Quality 0 with a 64 KiB window: on a 25,000-row COPY batch it is 6 to 13% faster than the default 4 MiB window and
 * compresses a little better (35.9% against 37.7% of the raw size), rows of a table repeating within a few rows.
 */
const BROTLI = { [zlib.BROTLI_PARAM_QUALITY]: 0, [zlib.BROTLI_PARAM_LGWIN]: 16 };

/** Errors that another attempt would only repeat. */
const PERMANENT = new Set(['query_failed', 'read_only', 'bad_request']);

/**
 * Runs refresh attempts the control plane hands this member over its connection: asks the API to start it,
 * streams the rows in compressed chunks (COPY text or NDJSON) over HTTPS, and completes it; stops when the API says
 * it was cancelled or superseded, or when the connection that brought it is lost (the control plane has given the
 * refresh to another member by then). At most one batch of rows is in memory at a time.
 */
export class RefreshRunner {
  active = 0;
  private readonly runs = new Map<string, AbortController>();

  constructor(
    private readonly api: MemberApi,
    private readonly connectors: ConnectorCache,
    private readonly log: Logger,
  ) {}

  /** The control plane took the run back (or the connection is gone): it stops without reporting. */
  stop(runId: string) {
    this.runs.get(runId)?.abort();
  }

  stopAll() {
    for (const a of this.runs.values()) a.abort();
  }

  async run(order: RefreshOrder): Promise<RefreshEnd> {
    const lost = new AbortController();
    this.runs.set(order.id, lost);
    try {
      return await this.attempt(order, lost.signal);
    } catch (e) {
      if (lost.signal.aborted) return { outcome: 'stopped', message: 'the control plane took the refresh back' };
      const message = (e as Error).message;
      this.log.warn({ refreshId: order.refreshId, err: message }, 'refresh attempt failed before it started');
      return { outcome: 'retry', message };
    } finally {
      this.runs.delete(order.id);
    }
  }

  private async attempt(order: RefreshOrder, lost: AbortSignal): Promise<RefreshEnd> {
    const id = order.refreshId;
    const start = await this.api.start(id);
    if (!start.proceed) {
      this.log.info({ refreshId: id, reason: start.reason, retry: !!start.retry }, start.retry ? 'refresh handed back to the queue' : 'refresh not run');
      return { outcome: start.retry ? 'requeue' : 'not-run', message: start.reason };
    }
    const { attempt } = start;
    const abort = new AbortController();
    // Why the stream stops early: the API said stop (cancelled or superseded), or an upload failed.
    let stopped = false;
    let uploadError: unknown = null;
    const stop = () => {
      stopped = true;
      abort.abort();
    };
    const onLost = () => stop();
    lost.addEventListener('abort', onLost);
    const status = setInterval(() => {
      void this.api
        .status(id, attempt)
        .then((r) => r.cancel && stop())
        .catch(() => undefined);
    }, STATUS_EVERY_MS);
    this.active += 1;
    const inflight = new Set<Promise<void>>();
    let seq = 0;
    let rows = 0;
    try {
      const connector = this.connectors.get(start.dataSource);
      // Up to UPLOADS_IN_FLIGHT compressed chunks travel while the next batch is fetched: the database, the
      // compression and the API's writes overlap, and memory holds one raw batch plus a few compressed ones.
      const upload = async (data: string | Buffer, count: number, format: 'ndjson' | 'pgcopy') => {
        // Compressed on libuv's thread pool, so the database keeps sending meanwhile.
        const body = await compress(data, { params: { ...BROTLI, [zlib.BROTLI_PARAM_SIZE_HINT]: data.length } });
        while (inflight.size >= UPLOADS_IN_FLIGHT) await Promise.race(inflight);
        if (abort.signal.aborted) return;
        const q = { attempt, seq, rows: count, format, encoding: 'br' as const };
        seq += 1;
        rows += count;
        const sent: Promise<void> = this.api
          .chunk(id, q, body)
          .then((ack) => {
            if (ack.cancel) stop();
          })
          .catch((e) => {
            uploadError ??= e;
            abort.abort();
          })
          .finally(() => inflight.delete(sent));
        inflight.add(sent);
      };
      const options = { timeoutMs: start.timeoutMs, batchRows: BATCH_ROWS, signal: abort.signal };
      // The engine's own dump where the connector has one (PostgreSQL's COPY text), NDJSON arrays otherwise.
      const columns: Column[] = connector.streamRaw
        ? (await connector.streamRaw(start.query, { ...options, batchRows: RAW_BATCH_ROWS }, (data, count) => upload(data, count, 'pgcopy'))).columns
        : await connector.stream(start.query, options, (_cols, batch) => upload(batch.map((r) => JSON.stringify(r)).join('\n') + '\n', batch.length, 'ndjson'));
      await Promise.all(inflight);
      if (uploadError) throw uploadError;
      if (stopped) throw new ConnectorError('bad_request', 'the refresh was cancelled');
      const done = await this.api.complete(id, { attempt, columns, chunks: seq, rows });
      this.log.info({ refreshId: id, attempt, rows, chunks: seq, ok: done.ok }, done.ok ? 'refresh done' : 'refresh attempt superseded at completion');
      return { outcome: done.ok ? 'done' : 'stopped', message: done.reason };
    } catch (caught) {
      // An upload still travelling must land (or fail) before the attempt is failed or cancelled, or its chunk
      // would outlive the attempt's cleanup.
      await Promise.allSettled(inflight);
      const e = uploadError ?? caught;
      if (lost.aborted) {
        // The connection that brought it is gone: the control plane has handed the refresh on; nothing to report.
        this.log.info({ refreshId: id, attempt }, 'refresh stopped: the connection that brought it was lost');
        return { outcome: 'stopped' };
      }
      if (stopped && !uploadError) {
        await this.api.cancelled(id, attempt).catch(() => undefined);
        this.log.info({ refreshId: id, attempt }, 'refresh stopped: cancelled or moved to another attempt');
        return { outcome: 'stopped' };
      }
      const tooLarge = e instanceof ApiError && e.status === 413;
      const code = e instanceof ConnectorError ? e.code : 'unreachable';
      const permanent = tooLarge || PERMANENT.has(code);
      const message = (e as Error).message;
      // Whether another attempt follows is the control plane's to decide (its retry policy counts every attempt).
      const answer = await this.api.fail(id, { attempt, error: message, permanent }).catch(() => null);
      this.log.info({ refreshId: id, attempt, permanent, code, next: answer?.reason }, 'refresh attempt failed');
      return { outcome: permanent ? 'failed' : 'retry', message };
    } finally {
      clearInterval(status);
      lost.removeEventListener('abort', onLost);
      this.active -= 1;
    }
  }
}
