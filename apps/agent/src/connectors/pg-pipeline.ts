import type { Submittable } from 'pg';
import { toJsonValue, type RowSink } from './types';
import { pgTypeName } from './pg-types';
// node-postgres' own row decoder (type parsers per column); it has no type declarations of its own.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Result = require('pg/lib/result.js') as new (rowMode: 'array') => { fields: { name: string; dataTypeID: number }[]; addFields(f: unknown[]): void; parseRow(values: unknown[]): unknown[] };

/** The parts of node-postgres' connection a submittable writes to (what pg-cursor uses too). */
interface Wire {
  parse(m: { text: string; name?: string; types?: number[] }): void;
  bind(m: { portal?: string; statement?: string; values?: unknown[] }): void;
  describe(m: { type: 'P' | 'S'; name?: string }): void;
  execute(m: { portal?: string; rows?: number }): void;
  sync(): void;
}

/**
 * Writes a submittable's messages in one go (node-postgres' own queries do the same): otherwise each message is
 * a write of its own (14 for a live query), and the server may wake up for each.
 */
export function writeTogether(connection: unknown, write: () => void) {
  const stream = (connection as { stream?: { cork?: () => void; uncork?: () => void } }).stream;
  stream?.cork?.();
  try {
    write();
  } finally {
    stream?.uncork?.();
  }
}

/** Streamed rows go to the sink in batches of about this many bytes (as the engine sent them). */
const BATCH_BYTES = 128 * 1024;

const columnsOf = (fields: { name: string; dataTypeID: number }[]) => fields.map((f) => ({ name: f.name, type: pgTypeName(f.dataTypeID) }));

export interface PipelineResult {
  fields: { name: string; dataTypeID: number }[];
  rows: unknown[][];
  /** The row limit stopped the statement before its end. */
  suspended: boolean;
}

/**
 * One read-only query in a single round trip: BEGIN READ ONLY, SET LOCAL statement_timeout, the user's
 * statement (Parse accepts exactly one, so no COMMIT can ride along) executed with a row limit, and ROLLBACK,
 * written together and closed by one Sync. If a step fails the server skips the rest up to the Sync and the
 * connection is left in a failed transaction, which the caller rolls back.
 */
export class ReadOnlyPipeline implements Submittable {
  private readonly result = new Result('array');
  private readonly rows: unknown[][] = [];
  private suspended = false;
  private error: Error | null = null;
  private settled = false;
  private resolve!: (r: PipelineResult) => void;
  private reject!: (e: Error) => void;
  readonly done = new Promise<PipelineResult>((res, rej) => {
    this.resolve = res;
    this.reject = rej;
  });

  private sink: RowSink | null = null;
  private batch: unknown[][] = [];
  private batchBytes = 0;
  private stream: { pause(): void; resume(): void } | null = null;

  constructor(
    private readonly sql: string,
    private readonly rowLimit: number,
    private readonly timeoutMs: number,
    sink?: RowSink,
    /** The connection's session already has this statement timeout: the SET LOCAL step is left out. */
    private readonly sessionTimeoutMs?: number,
  ) {
    this.sink = sink ?? null;
  }

  submit(connection: unknown) {
    const wire = connection as Wire;
    this.stream = (connection as { stream?: { pause(): void; resume(): void } }).stream ?? null;
    const step = (text: string) => {
      wire.parse({ text, types: [] });
      wire.bind({});
      wire.execute({});
    };
    writeTogether(connection, () => {
      step('BEGIN READ ONLY');
      const timeout = Math.max(1, Math.floor(this.timeoutMs));
      if (timeout !== this.sessionTimeoutMs) step(`SET LOCAL statement_timeout = ${timeout}`);
      wire.parse({ text: this.sql, types: [] });
      wire.bind({});
      wire.describe({ type: 'P', name: '' });
      wire.execute({ portal: '', rows: this.rowLimit });
      step('ROLLBACK');
      wire.sync();
    });
  }

  handleRowDescription(msg: { fields: unknown[] }) {
    this.result.addFields(msg.fields);
    this.sink?.columns(columnsOf(this.result.fields));
  }

  handleDataRow(msg: { fields: (string | null)[] }) {
    const row = this.result.parseRow(msg.fields);
    if (!this.sink) return void this.rows.push(row);
    // Streamed: rows go to the sink in batches of about a frame; while it is busy sending, the socket from the
    // database is paused, so a large result is never held here whole.
    this.rowCount += 1;
    if (this.rowCount > this.rowLimit - 1) return void (this.suspended = true);
    this.batch.push(row.map(toJsonValue));
    for (const f of msg.fields) this.batchBytes += (f?.length ?? 4) + 3;
    if (this.batchBytes >= BATCH_BYTES) this.flush();
  }

  private rowCount = 0;

  private flush() {
    if (!this.sink || this.batch.length === 0) return;
    const batch = this.batch;
    const bytes = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    let pending: void | Promise<void>;
    try {
      pending = this.sink.rows(batch, bytes);
    } catch (e) {
      this.error ??= e as Error;
      return;
    }
    if (pending) {
      this.stream?.pause();
      pending.then(
        () => {
          this.stream?.resume();
        },
        (e: Error) => {
          this.error ??= e;
          this.stream?.resume();
        },
      );
    }
  }

  handlePortalSuspended() {
    this.suspended = true;
  }

  handleCommandComplete() {}

  handleEmptyQuery() {
    this.error ??= Object.assign(new Error('the query is empty'), { code: '42601' });
  }

  handleError(err: Error) {
    // node-postgres forgets the active query on an error: its ReadyForQuery then releases the next query
    // (the caller's ROLLBACK), not this one.
    this.error ??= err;
    this.settle();
  }

  handleReadyForQuery() {
    this.settle();
  }

  private settle() {
    if (this.settled) return;
    this.settled = true;
    if (!this.error) this.flush();
    if (this.error) this.reject(this.error);
    else this.resolve({ fields: this.result.fields ?? [], rows: this.rows, suspended: this.suspended });
  }
}
