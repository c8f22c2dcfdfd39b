import type { PgWork } from '@gateway/domain';
import { ApiError } from '../../infra/http/errors';
import { LiveQueryError, QueryCancelled, type AnswerColumn, type WireAnswer } from '../queries/query.service';
import { dataRows, decode, enc, type Field, type Frontend } from './pg-messages';
import { fromBinary, hasBinary, toBinary } from './pg-binary';
import { commandTag, localCommand, splitStatements, stripComments, type Local } from './pg-sql';

/** Runs one statement on the cluster (see QueryService.wire). */
export interface Executor {
  run(sql: string, pg: PgWork, options: { timeoutMs: number; signal: AbortSignal }): Promise<WireAnswer>;
}

export interface SessionOptions {
  /** The signed-in account (session_authorization). */
  user: string;
  /** The startup message's parameters (application_name, options the client sets at connect). */
  startup: Record<string, string>;
  serverVersion: string;
  /** How long a statement may run unless the client sets statement_timeout (as REST's default), and at most. */
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  /** Called after every statement that went to the cluster (the record of it). */
  onStatement?: (s: { answer?: WireAnswer; error?: PgError; ms: number }) => void;
}

/** An ErrorResponse to send. */
export interface PgError {
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  position?: string;
  severity?: string;
}

type Statement = { sql: string; types: number[]; local: Local | null; described?: { paramTypes: number[]; columns: AnswerColumn[] } };
type Portal = { statement: Statement; params: (string | null)[]; formats: number[]; result?: { columns: AnswerColumn[]; rows: (string | null)[][]; at: number }; sql: string };

/** Settings the source must see to print values as the client expects (applied with SET LOCAL there). */
const FORWARDED = new Set(['timezone', 'datestyle', 'intervalstyle', 'extra_float_digits', 'search_path', 'bytea_output']);
/** Settings sent with ParameterStatus before the first ReadyForQuery, in this order, as PostgreSQL spells them. */
const STARTUP: Record<string, string> = {
  server_version: 'server_version',
  server_encoding: 'server_encoding',
  client_encoding: 'client_encoding',
  datestyle: 'DateStyle',
  intervalstyle: 'IntervalStyle',
  integer_datetimes: 'integer_datetimes',
  standard_conforming_strings: 'standard_conforming_strings',
  default_transaction_read_only: 'default_transaction_read_only',
  in_hot_standby: 'in_hot_standby',
  is_superuser: 'is_superuser',
  session_authorization: 'session_authorization',
  application_name: 'application_name',
  timezone: 'TimeZone',
};
/** Those of them a client may SET: reported again when they change. */
const REPORTED: Record<string, string> = Object.fromEntries(['application_name', 'client_encoding', 'datestyle', 'intervalstyle', 'timezone'].map((n) => [n, STARTUP[n]]));
const OID_TEXT = 25;
const LOCAL_TAG: Record<string, string> = { begin: 'BEGIN', commit: 'COMMIT', savepoint: 'SAVEPOINT', release: 'RELEASE', discard: 'DISCARD ALL' };
/** Rows per DataRow batch written at once. */
const BATCH = 2000;

/** How an error from the cluster reads in PostgreSQL's terms. */
export function toPgError(e: unknown): PgError {
  if (e instanceof QueryCancelled) return { code: '57014', message: e.message };
  if (e instanceof LiveQueryError) {
    if (e.fields.sqlstate) return { code: e.fields.sqlstate, message: messageOf(e), detail: e.fields.detail, hint: e.fields.hint, position: e.fields.position };
    const code = { read_only: '25006', timeout: '57014', too_large: '54000', unreachable: '08006', credentials: '28000', bad_request: '22023', query_failed: 'XX000' }[e.code];
    return { code, message: messageOf(e) };
  }
  if (e instanceof ApiError) {
    const status = e.getStatus();
    const code = status === 503 ? '57P03' : status === 504 ? '57014' : status === 413 ? '54000' : status === 403 ? '42501' : status === 404 ? '3D000' : status === 429 ? '53300' : 'XX000';
    return { code, message: messageOf(e) };
  }
  return { code: 'XX000', message: (e as Error).message ?? String(e) };
}

const messageOf = (e: ApiError) => (e.getResponse() as { message: string }).message;

/** `statement_timeout` in PostgreSQL's units (ms when bare). */
function parseDuration(v: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$/i.exec(v);
  if (!m) return null;
  const unit = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms').toLowerCase() as 'ms'];
  return Number(m[1]) * unit;
}

/**
 * One front door connection after sign-in: the simple and extended query protocol, statements and portals,
 * the transaction status clients track, the session settings, and errors in PostgreSQL's form. Every statement
 * that needs data goes to the executor (the cluster); the rest is answered here.
 */
export class PgSession {
  private readonly settings = new Map<string, string>();
  /** Settings as the client changed them from the start, to forward to the source. */
  private readonly forwarded = new Map<string, string>();
  private readonly statements = new Map<string, Statement>();
  private readonly portals = new Map<string, Portal>();
  private status: 'I' | 'T' | 'E' = 'I';
  private skipping = false;
  private out: Buffer[] = [];
  private running: AbortController | null = null;
  private lastServed: WireAnswer['servedBy'] | null = null;
  private trace = false;
  private timeoutMs: number;

  constructor(
    private readonly executor: Executor,
    private readonly options: SessionOptions,
  ) {
    this.timeoutMs = options.defaultTimeoutMs;
    const defaults: Record<string, string> = {
      server_version: options.serverVersion,
      server_encoding: 'UTF8',
      client_encoding: 'UTF8',
      datestyle: 'ISO, MDY',
      intervalstyle: 'postgres',
      integer_datetimes: 'on',
      standard_conforming_strings: 'on',
      default_transaction_read_only: 'on',
      transaction_read_only: 'on',
      in_hot_standby: 'off',
      is_superuser: 'off',
      session_authorization: options.user,
      application_name: options.startup.application_name ?? '',
      statement_timeout: '0',
      'gateway.trace': 'off',
    };
    for (const [k, v] of Object.entries(defaults)) this.settings.set(k, v);
    // Settings a client gives at connect (pgjdbc: TimeZone, DateStyle, extra_float_digits) count as set.
    for (const [k, v] of Object.entries(options.startup)) {
      const name = k.toLowerCase();
      if (['user', 'database', 'application_name', 'client_encoding', 'replication', 'options'].includes(name)) continue;
      this.apply(name, v);
    }
  }

  /** ParameterStatus messages to send before the first ReadyForQuery. */
  startupMessages(): Buffer[] {
    return Object.entries(STARTUP)
      .filter(([name]) => this.settings.has(name))
      .map(([name, spelled]) => enc.parameterStatus(spelled, this.settings.get(name)!));
  }

  /** The client's CancelRequest: stop what runs now. */
  cancel() {
    this.running?.abort();
  }

  /**
   * One frontend message; what to send back (buffered until Sync, Flush or the end of a simple Query). Returns null
   * for a message answered later (pg-gateway then writes nothing and leaves the message alone: an empty write would
   * still cost a system call), undefined for Terminate (pg-gateway closes the connection).
   */
  async *handle(message: Uint8Array): AsyncGenerator<Uint8Array, Uint8Array | null | undefined> {
    const m = decode(message);
    if (m.t === 'X') return undefined;
    if (this.skipping && m.t !== 'S') return null;
    try {
      switch (m.t) {
        case 'Q':
          yield* this.simpleQuery(m.sql);
          this.out.push(enc.ready(this.status));
          return this.flush();
        case 'P':
          this.parse(m);
          break;
        case 'B':
          await this.bind(m);
          break;
        case 'D':
          await this.describe(m);
          break;
        case 'E':
          yield* this.execute(m);
          break;
        case 'C':
          if (m.kind === 'S') this.statements.delete(m.name);
          else this.portals.delete(m.name);
          this.out.push(enc.closeComplete());
          break;
        case 'S':
          this.skipping = false;
          this.out.push(enc.ready(this.status));
          return this.flush();
        case 'H':
          return this.flush();
        default:
          throw { code: '08P01', message: `the gateway does not take "${m.code}" messages (COPY and function calls are not supported)` } satisfies PgError;
      }
    } catch (e) {
      this.fail(e);
      this.skipping = true;
    }
    return null;
  }

  private flush(): Buffer {
    const b = this.out.length === 1 ? this.out[0] : Buffer.concat(this.out);
    this.out = [];
    return b;
  }

  private fail(e: unknown) {
    const err: PgError = isPgError(e) ? e : toPgError(e);
    this.out.push(enc.error(err));
    if (this.status === 'T') this.status = 'E';
  }

  // --- simple query

  private async *simpleQuery(sql: string): AsyncGenerator<Uint8Array> {
    const statements = splitStatements(sql);
    if (statements.length === 0) return void this.out.push(enc.emptyQuery());
    // Several statements in one Query run as one transaction in PostgreSQL; here each is read-only anyway.
    for (const text of statements) {
      try {
        const local = localCommand(text);
        if (local) {
          this.runLocal(local, true);
          continue;
        }
        this.assertUsable();
        const answer = await this.remote(text, { params: [] });
        this.out.push(enc.rowDescription(fields(answer.columns, [])));
        yield* this.rows(answer.rows, answer.columns, [], 0, answer.rows.length);
        this.out.push(enc.commandComplete(commandTag(text, answer.rows.length)));
      } catch (e) {
        this.fail(e);
        return;
      }
    }
  }

  /** Rows from..to as DataRow messages, written out in batches so that a large result is never held twice. */
  private async *rows(rows: (string | null)[][], columns: AnswerColumn[], formats: number[], from: number, to: number): AsyncGenerator<Uint8Array> {
    const binary = columns.map((c, i) => formatOf(formats, i) === 1 && hasBinary(c.oid ?? OID_TEXT));
    const anyBinary = binary.some(Boolean);
    for (let i = from; i < to; i += BATCH) {
      const batch = rows.slice(i, Math.min(to, i + BATCH));
      this.out.push(dataRows(anyBinary ? batch.map((r) => r.map((v, j) => (v !== null && binary[j] ? (toBinary(columns[j].oid ?? OID_TEXT, v) ?? Buffer.from(v)) : v))) : batch));
      if (to - from > BATCH) yield this.flush();
    }
  }

  // --- extended query

  private parse(m: Extract<Frontend, { t: 'P' }>) {
    if (m.name && this.statements.has(m.name)) throw { code: '42P05', message: `prepared statement "${m.name}" already exists` } satisfies PgError;
    const text = stripComments(m.sql);
    const parts = splitStatements(m.sql);
    if (parts.length > 1) throw { code: '42601', message: 'cannot insert multiple commands into a prepared statement' } satisfies PgError;
    this.statements.set(m.name, { sql: m.sql, types: m.types, local: text ? localCommand(text) : null });
    this.out.push(enc.parseComplete());
  }

  private async bind(m: Extract<Frontend, { t: 'B' }>) {
    const statement = this.statements.get(m.statement);
    if (!statement) throw { code: '26000', message: `prepared statement "${m.statement}" does not exist` } satisfies PgError;
    if (m.portal && this.portals.has(m.portal)) throw { code: '42P03', message: `cursor "${m.portal}" already exists` } satisfies PgError;
    // A binary parameter of a type the client left to the server (node-postgres' Buffers): the source says which.
    if (!statement.local && m.params.some((p, i) => p !== null && formatOf(m.paramFormats, i) === 1 && !statement.types[i])) await this.described(statement);
    const types = statement.described?.paramTypes ?? statement.types;
    const params = m.params.map((p, i) => {
      if (p === null) return null;
      if (formatOf(m.paramFormats, i) === 0) return p.toString();
      const text = fromBinary(types[i] ?? 0, p);
      if (text === null) throw { code: '22P03', message: `parameter $${i + 1} came in binary format for type oid ${types[i] ?? 0}, which the gateway reads in text format only: send it as text` } satisfies PgError;
      return text;
    });
    this.portals.set(m.portal, { statement, params, formats: m.resultFormats, sql: statement.sql });
    this.out.push(enc.bindComplete());
  }

  private async describe(m: Extract<Frontend, { t: 'D' }>) {
    if (m.kind === 'S') {
      const statement = this.statements.get(m.name);
      if (!statement) throw { code: '26000', message: `prepared statement "${m.name}" does not exist` } satisfies PgError;
      if (statement.local || !stripComments(statement.sql)) {
        this.out.push(enc.parameterDescription([]));
        this.out.push(statement.local?.kind === 'show' ? enc.rowDescription([{ name: statement.local.name, oid: OID_TEXT, format: 0 }]) : enc.noData());
        return;
      }
      const described = await this.described(statement);
      this.out.push(enc.parameterDescription(described.paramTypes));
      this.out.push(described.columns.length ? enc.rowDescription(fields(described.columns, [])) : enc.noData());
      return;
    }
    const portal = this.portals.get(m.name);
    if (!portal) throw { code: '34000', message: `portal "${m.name}" does not exist` } satisfies PgError;
    const local = portal.statement.local;
    if (local || !stripComments(portal.sql)) {
      this.out.push(local?.kind === 'show' ? enc.rowDescription([{ name: local.name, oid: OID_TEXT, format: 0 }]) : enc.noData());
      return;
    }
    const result = await this.resultOf(portal);
    this.out.push(result.columns.length ? enc.rowDescription(fields(result.columns, portal.formats)) : enc.noData());
  }

  /** The statement's parameter types and columns as the source sees them (asked once per statement). */
  private async described(statement: Statement) {
    if (!statement.described) {
      this.assertUsable();
      const answer = await this.remote(statement.sql, { paramTypes: statement.types, describe: true });
      statement.described = { paramTypes: answer.paramTypes ?? statement.types, columns: answer.columns };
    }
    return statement.described;
  }

  private async resultOf(portal: Portal) {
    if (!portal.result) {
      this.assertUsable();
      const answer = await this.remote(portal.sql, { params: portal.params, paramTypes: portal.statement.types });
      portal.result = { columns: answer.columns, rows: answer.rows, at: 0 };
    }
    return portal.result;
  }

  private async *execute(m: Extract<Frontend, { t: 'E' }>): AsyncGenerator<Uint8Array> {
    const portal = this.portals.get(m.portal);
    if (!portal) throw { code: '34000', message: `portal "${m.portal}" does not exist` } satisfies PgError;
    if (!stripComments(portal.sql)) return void this.out.push(enc.emptyQuery());
    if (portal.statement.local) {
      this.runLocal(portal.statement.local, false);
      return;
    }
    const result = await this.resultOf(portal);
    const to = m.maxRows > 0 ? Math.min(result.rows.length, result.at + m.maxRows) : result.rows.length;
    yield* this.rows(result.rows, result.columns, portal.formats, result.at, to);
    const sent = to - result.at;
    result.at = to;
    if (to < result.rows.length) this.out.push(enc.portalSuspended());
    else {
      this.out.push(enc.commandComplete(commandTag(portal.sql, sent)));
      // An unnamed portal's rows are not kept past its completion.
      if (m.portal === '') result.rows = [];
    }
  }

  // --- statements that go to the cluster

  private assertUsable() {
    if (this.status === 'E') throw { code: '25P02', message: 'current transaction is aborted, commands ignored until end of transaction block' } satisfies PgError;
  }

  private async remote(sql: string, pg: PgWork): Promise<WireAnswer> {
    const settings = Object.fromEntries(this.forwarded);
    const abort = new AbortController();
    this.running = abort;
    const started = performance.now();
    try {
      const answer = await this.executor.run(sql, { ...pg, ...(this.forwarded.size ? { settings } : {}) }, { timeoutMs: this.timeoutMs, signal: abort.signal });
      this.lastServed = answer.servedBy;
      this.options.onStatement?.({ answer, ms: performance.now() - started });
      if (this.trace) {
        const t = answer.timings;
        this.out.push(enc.error({ severity: 'NOTICE', code: '00000', message: `served by ${answer.servedBy.memberName} (${answer.servedBy.reason}) in ${t.totalMs} ms, ${t.executeMs} ms on the member, attempt ${t.attempts}` }, 0x4e));
      }
      return answer;
    } catch (e) {
      const err = toPgError(e);
      this.options.onStatement?.({ error: err, ms: performance.now() - started });
      throw err;
    } finally {
      if (this.running === abort) this.running = null;
    }
  }

  // --- statements answered here

  private runLocal(local: Local, simple: boolean) {
    const done = (tag: string) => this.out.push(enc.commandComplete(tag));
    if (this.status === 'E' && local.kind !== 'rollback' && local.kind !== 'commit') this.assertUsable();
    switch (local.kind) {
      case 'begin':
        this.status = 'T';
        return done('BEGIN');
      case 'commit': {
        const failed = this.status === 'E';
        this.status = 'I';
        return done(failed ? 'ROLLBACK' : 'COMMIT');
      }
      case 'rollback':
        if (local.toSavepoint) {
          if (this.status === 'E') this.status = 'T';
        } else this.status = 'I';
        return done('ROLLBACK');
      case 'savepoint':
      case 'release':
      case 'discard':
        if (local.kind === 'discard') this.reset('all');
        return done(LOCAL_TAG[local.kind]);
      case 'set-ignored':
        return done(local.tag);
      case 'set':
        this.set(local.name, local.value);
        return done('SET');
      case 'reset':
        this.reset(local.name);
        return done('RESET');
      case 'deallocate':
        if (local.name === null) this.statements.clear();
        else if (!this.statements.delete(local.name)) throw { code: '26000', message: `prepared statement "${local.name}" does not exist` } satisfies PgError;
        return done(local.name === null ? 'DEALLOCATE ALL' : 'DEALLOCATE');
      case 'show': {
        const value = this.show(local.name);
        if (simple) this.out.push(enc.rowDescription([{ name: local.name, oid: OID_TEXT, format: 0 }]));
        this.out.push(dataRows([[value]]));
        return done('SHOW');
      }
      case 'refused':
        throw { code: '0A000', message: `the gateway does not run ${local.word}: it runs read-only queries on the data source` } satisfies PgError;
    }
  }

  private show(name: string): string {
    if (name === 'gateway.served_by') return this.lastServed?.memberName ?? '';
    if (name === 'gateway.served_reason') return this.lastServed?.reason ?? '';
    if (name === 'all') return [...this.settings].map(([k, v]) => `${k}=${v}`).join(', ');
    const value = this.settings.get(name);
    if (value === undefined) throw { code: '42704', message: `unrecognized configuration parameter "${name}" (the gateway shows its session's settings; ask the source with SELECT current_setting('${name}'))` } satisfies PgError;
    return value;
  }

  private set(name: string, value: string | null) {
    if (value === null) return this.reset(name);
    if (name === 'client_encoding' && !/^(utf-?8|unicode)$/i.test(value)) throw { code: '22023', message: `the gateway speaks UTF8 only, not ${value}` } satisfies PgError;
    if (name === 'statement_timeout' && parseDuration(value) === null) throw { code: '22023', message: `invalid value for parameter "statement_timeout": "${value}"` } satisfies PgError;
    this.apply(name, value);
  }

  private apply(name: string, value: string) {
    if (name === 'client_encoding') value = 'UTF8';
    this.settings.set(name, value);
    if (FORWARDED.has(name)) this.forwarded.set(name, value);
    if (name === 'gateway.trace') this.trace = /^(on|true|1|yes)$/i.test(value);
    if (name === 'statement_timeout') {
      const ms = parseDuration(value) ?? 0;
      this.timeoutMs = ms > 0 ? Math.max(1, Math.min(this.options.maxTimeoutMs, Math.round(ms))) : this.options.defaultTimeoutMs;
    }
    if (REPORTED[name]) this.out.push(enc.parameterStatus(REPORTED[name], value));
  }

  private reset(name: string) {
    const names = name === 'all' ? [...this.forwarded.keys(), 'statement_timeout', 'gateway.trace'] : [name];
    for (const n of names) {
      this.forwarded.delete(n);
      this.settings.delete(n);
      if (n === 'statement_timeout') this.apply(n, '0');
      if (n === 'gateway.trace') this.apply(n, 'off');
    }
  }
}

const isPgError = (e: unknown): e is PgError => typeof e === 'object' && e !== null && !(e instanceof Error) && typeof (e as PgError).code === 'string';

const formatOf = (formats: number[], i: number) => (formats.length === 0 ? 0 : formats.length === 1 ? formats[0] : (formats[i] ?? 0));

/** RowDescription fields: binary only where the client asked for it and the type has a binary form here. */
function fields(columns: AnswerColumn[], formats: number[]): Field[] {
  return columns.map((c, i) => {
    const oid = c.oid ?? OID_TEXT;
    return { name: c.name, oid, size: c.size, mod: c.mod, format: formatOf(formats, i) === 1 && hasBinary(oid) ? 1 : 0 };
  });
}
