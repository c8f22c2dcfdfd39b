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

type Field = { name: string; dataTypeID: number; dataTypeModifier?: number; dataTypeSize?: number };
export const wireColumnsOf = (fields: Field[]) => fields.map((f) => ({ name: f.name, type: pgTypeName(f.dataTypeID), oid: f.dataTypeID, mod: f.dataTypeModifier, size: f.dataTypeSize }));

/** A front door query (see PgWork): rows stay in PostgreSQL's text form, columns keep their type ids. */
export interface WireOptions {
  params: (string | null)[];
  types: number[];
  /** Session settings, applied with set_config(name, value, true) inside the transaction. */
  settings: Record<string, string>;
}

const literal = (v: string) => `'${v.replace(/'/g, "''")}'`;

export interface PipelineResult {
  fields: Field[];
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
    private readonly wireOptions?: WireOptions,
  ) {
    this.sink = sink ?? null;
  }

  /** Statements of the pipeline before the user's: rows they return (set_config's) are not the result's. */
  private before = 0;
  private userStep = 0;
  private completed = 0;
  private wireFields: Field[] = [];

  submit(connection: unknown) {
    const wire = connection as Wire;
    this.stream = (connection as { stream?: { pause(): void; resume(): void } }).stream ?? null;
    const step = (text: string) => {
      wire.parse({ text, types: [] });
      wire.bind({});
      wire.execute({});
      this.before += 1;
    };
    writeTogether(connection, () => {
      step('BEGIN READ ONLY');
      const timeout = Math.max(1, Math.floor(this.timeoutMs));
      if (timeout !== this.sessionTimeoutMs) step(`SET LOCAL statement_timeout = ${timeout}`);
      const settings = Object.entries(this.wireOptions?.settings ?? {});
      if (settings.length) step(`SELECT ${settings.map(([k, v]) => `set_config(${literal(k)}, ${literal(v)}, true)`).join(', ')}`);
      this.userStep = this.before;
      wire.parse({ text: this.sql, types: this.wireOptions?.types ?? [] });
      wire.bind({ values: this.wireOptions?.params ?? [] });
      wire.describe({ type: 'P', name: '' });
      wire.execute({ portal: '', rows: this.rowLimit });
      step('ROLLBACK');
      wire.sync();
    });
  }

  handleRowDescription(msg: { fields: unknown[] }) {
    if (this.wireOptions) {
      this.wireFields = msg.fields as Field[];
      return this.sink?.columns(wireColumnsOf(this.wireFields));
    }
    this.result.addFields(msg.fields);
    this.sink?.columns(columnsOf(this.result.fields));
  }

  handleDataRow(msg: { fields: (string | null)[] }) {
    if (this.completed < this.userStep) return;
    // In wire form the text values are the row, as the source wrote them.
    const row = this.wireOptions ? msg.fields : this.result.parseRow(msg.fields);
    if (!this.sink) return void this.rows.push(row);
    // Streamed: rows go to the sink in batches of about a frame; while it is busy sending, the socket from the
    // database is paused, so a large result is never held here whole.
    this.rowCount += 1;
    if (this.rowCount > this.rowLimit - 1) return void (this.suspended = true);
    this.batch.push(this.wireOptions ? row : row.map(toJsonValue));
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

  handleCommandComplete() {
    this.completed += 1;
  }

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
    else this.resolve({ fields: (this.wireOptions ? this.wireFields : this.result.fields) ?? [], rows: this.rows, suspended: this.suspended });
  }
}

/**
 * Describes a statement without running it (the front door's Describe of a prepared statement): Parse with the
 * client's parameter types, Describe, Sync. Gives the parameter types the source inferred and the columns.
 */
export class DescribePipeline implements Submittable {
  private paramTypes: number[] = [];
  private fields: Field[] = [];
  private error: Error | null = null;
  private settled = false;
  private connection: { on(e: string, f: (m: { dataTypeIDs: number[] }) => void): void; removeListener(e: string, f: unknown): void } | null = null;
  private resolve!: (r: { paramTypes: number[]; fields: Field[] }) => void;
  private reject!: (e: Error) => void;
  readonly done = new Promise<{ paramTypes: number[]; fields: Field[] }>((res, rej) => {
    this.resolve = res;
    this.reject = rej;
  });

  constructor(
    private readonly sql: string,
    private readonly types: number[],
  ) {}

  private readonly onParams = (m: { dataTypeIDs: number[] }) => {
    this.paramTypes = m.dataTypeIDs;
  };

  submit(connection: unknown) {
    const wire = connection as Wire;
    // node-postgres' client has no handler of its own for ParameterDescription: it is read off the connection.
    this.connection = connection as DescribePipeline['connection'];
    this.connection!.on('parameterDescription', this.onParams);
    writeTogether(connection, () => {
      wire.parse({ text: this.sql, types: this.types });
      wire.describe({ type: 'S', name: '' });
      wire.sync();
    });
  }

  handleRowDescription(msg: { fields: unknown[] }) {
    this.fields = msg.fields as Field[];
  }

  handleDataRow() {}
  handlePortalSuspended() {}
  handleCommandComplete() {}
  handleEmptyQuery() {}

  handleError(err: Error) {
    this.error ??= err;
    this.settle();
  }

  handleReadyForQuery() {
    this.settle();
  }

  private settle() {
    if (this.settled) return;
    this.settled = true;
    this.connection?.removeListener('parameterDescription', this.onParams);
    if (this.error) this.reject(this.error);
    else this.resolve({ paramTypes: this.paramTypes, fields: this.fields });
  }
}
