import { promisify } from 'node:util';
import { brotliCompress, constants as zlib } from 'node:zlib';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { ChunkAck, RefreshJob, RefreshStart } from '@gateway/domain';
import { ApiError } from '../api-client';
import { ConnectorError, type Column, type ConnectorCache } from '../connectors';
import type { MemberSession } from './member-session';

/** Rows per chunk: enough to compress well, small enough that neither side holds much. */
export const BATCH_ROWS = 5_000;
/**
 * Rows per chunk of an engine's own dump (COPY text): bytes, not decoded rows, so a batch costs a few MB at most
 * and fewer, larger chunks mean fewer requests and commits per refresh.
 */
export const RAW_BATCH_ROWS = 10_000;
const STATUS_EVERY_MS = 1_000;
/** Chunks uploading at once per refresh (each a compressed batch; the API stores them in any order). */
const UPLOADS_IN_FLIGHT = 2;

/**
 * Brotli at its fastest setting: on rows as text it compresses about as well as gzip's fastest level at about a
 * third of the CPU, which on a member host is the largest cost of a refresh after the database's own.
 */
const compress = promisify(brotliCompress);

/** Errors that another attempt would only repeat. */
const PERMANENT = new Set(['query_failed', 'read_only', 'bad_request']);

/**
 * Runs one refresh attempt: asks the API to start it, streams the rows in compressed chunks (COPY text or NDJSON),
 * and completes it; stops when the API says it was cancelled or superseded. At most one batch of rows is
 * in memory at a time.
 */
export class RefreshRunner {
  active = 0;

  constructor(
    private readonly session: MemberSession,
    private readonly connectors: ConnectorCache,
    private readonly log: Logger,
  ) {}

  async process(job: Job) {
    const parsed = RefreshJob.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`job ${job.id} has no valid refresh payload`);
    const id = parsed.data.refreshId;
    const start = RefreshStart.parse(await this.session.request('POST', `/api/agents/refreshes/${id}/start`, {}));
    if (!start.proceed) {
      this.log.info({ refreshId: id, reason: start.reason, retry: !!start.retry }, start.retry ? 'refresh handed back to the queue' : 'refresh not run');
      return start.retry ? ('requeue' as const) : undefined;
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
    const status = setInterval(() => {
      void this.session
        .request('POST', `/api/agents/refreshes/${id}/status`, { attempt })
        .then((r) => ChunkAck.parse(r).cancel && stop())
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
        const body = await compress(data, { params: { [zlib.BROTLI_PARAM_QUALITY]: 0, [zlib.BROTLI_PARAM_SIZE_HINT]: data.length } });
        while (inflight.size >= UPLOADS_IN_FLIGHT) await Promise.race(inflight);
        if (abort.signal.aborted) return;
        const path = `/api/agents/refreshes/${id}/chunks?attempt=${attempt}&seq=${seq}&rows=${count}&format=${format}&encoding=br`;
        seq += 1;
        rows += count;
        const sent: Promise<void> = this.session
          .request('POST', path, body)
          .then((ack) => {
            if (ChunkAck.parse(ack).cancel) stop();
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
      await this.session.request('POST', `/api/agents/refreshes/${id}/complete`, { attempt, columns, chunks: seq, rows });
      this.log.info({ refreshId: id, attempt, rows, chunks: seq }, 'refresh done');
    } catch (caught) {
      // An upload still travelling must land (or fail) before the attempt is failed or cancelled, or its chunk
      // would outlive the attempt's cleanup.
      await Promise.allSettled(inflight);
      const e = uploadError ?? caught;
      if (stopped && !uploadError) {
        await this.session.request('POST', `/api/agents/refreshes/${id}/cancelled`, { attempt }).catch(() => undefined);
        this.log.info({ refreshId: id, attempt }, 'refresh stopped: cancelled or moved to another attempt');
        return;
      }
      const tooLarge = e instanceof ApiError && e.status === 413;
      const code = e instanceof ConnectorError ? e.code : 'unreachable';
      const permanent = tooLarge || PERMANENT.has(code);
      const final = permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      const message = (e as Error).message;
      await this.session.request('POST', `/api/agents/refreshes/${id}/fail`, { attempt, error: message, final }).catch(() => undefined);
      this.log.info({ refreshId: id, attempt, final, code }, 'refresh attempt failed');
      if (final) throw new UnrecoverableError(message);
      throw e;
    } finally {
      clearInterval(status);
      this.active -= 1;
    }
  }
}
