import { ConnectorError, type Column } from './types';

/**
 * The wire form of a result, for the PostgreSQL front door: every column with the PostgreSQL type id closest to
 * its engine's type, every value as PostgreSQL's text output of that type would print it (null stays null).
 * PostgreSQL sources need none of this: their rows arrive in that form already.
 */
export const OID = { bool: 16, bytea: 17, int8: 20, int2: 21, int4: 23, text: 25, json: 114, float4: 700, float8: 701, date: 1082, time: 1083, timestamp: 1114, numeric: 1700 } as const;

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** One value in PostgreSQL's text form. */
export function toPgText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 't' : 'f';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) return null;
    const ms = v.getUTCMilliseconds();
    return `${v.getUTCFullYear()}-${pad(v.getUTCMonth() + 1)}-${pad(v.getUTCDate())} ${pad(v.getUTCHours())}:${pad(v.getUTCMinutes())}:${pad(v.getUTCSeconds())}${ms ? `.${pad(ms, 3)}` : ''}`;
  }
  if (v instanceof Uint8Array) return `\\x${Buffer.from(v).toString('hex')}`;
  return JSON.stringify(v);
}

/** MySQL/MariaDB column types (mysql2's FieldPacket: type code and character set; 63 is binary). */
export function mysqlTypeOid(type: number | undefined, charset: number | undefined): number {
  switch (type) {
    case 0:
    case 246:
      return OID.numeric;
    case 1:
    case 2:
    case 13:
      return OID.int2;
    case 3:
    case 9:
      return OID.int4;
    case 8:
      return OID.int8;
    case 4:
      return OID.float4;
    case 5:
      return OID.float8;
    case 7:
    case 12:
      return OID.timestamp;
    case 10:
      return OID.date;
    case 11:
      return OID.time;
    case 245:
      return OID.json;
    case 16:
    case 255:
      return OID.bytea;
    case 249:
    case 250:
    case 251:
    case 252:
    case 253:
    case 254:
    case 15:
      return charset === 63 ? OID.bytea : OID.text;
    default:
      return OID.text;
  }
}

/**
 * SQLite columns: by the declared type's affinity (SQLite's own rules), or for expressions by the values found
 * (integers only: int8; any other number: float8; bytes: bytea; else text).
 */
export function sqliteTypeOid(declared: string | undefined, values: Iterable<unknown>): number {
  const d = (declared ?? '').toUpperCase();
  if (d) {
    if (d.includes('INT')) return OID.int8;
    if (/CHAR|CLOB|TEXT/.test(d)) return OID.text;
    if (d.includes('BLOB')) return OID.bytea;
    if (/REAL|FLOA|DOUB/.test(d)) return OID.float8;
    if (d.includes('BOOL')) return OID.bool;
    if (d.includes('JSON')) return OID.json;
    if (/NUMERIC|DECIMAL/.test(d)) return OID.numeric;
    return OID.text;
  }
  const kinds = new Set<number>();
  for (const v of values) {
    if (v === null || v === undefined) continue;
    kinds.add(typeof v === 'number' ? (Number.isInteger(v) ? OID.int8 : OID.float8) : typeof v === 'bigint' ? OID.int8 : v instanceof Uint8Array ? OID.bytea : OID.text);
  }
  if (kinds.size === 2 && kinds.has(OID.int8) && kinds.has(OID.float8)) return OID.float8;
  return kinds.size === 1 ? [...kinds][0] : OID.text;
}

/** Values in PostgreSQL text form, and sqlite booleans (0/1) as t/f. */
export function toWireRows(columns: Column[], rows: unknown[][]): string[][] {
  return rows.map((r) => r.map((v, i) => (columns[i]?.oid === OID.bool && typeof v === 'number' ? (v ? 't' : 'f') : toPgText(v))) as string[]);
}

/**
 * `$1`..`$n` placeholders (the PostgreSQL form the front door's clients write) as `?` for engines that take
 * anonymous ones, with the values in the order they are used. Quoted strings, quoted names and comments are left
 * as they are. `nulls`: every parameter NULL (to describe the statement); `count` is the highest $n used.
 */
export function toAnonymousPlaceholders(sql: string, params: (string | null)[] | 'nulls'): { sql: string; values: (string | null)[]; count: number } {
  const values: (string | null)[] = [];
  let count = 0;
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < sql.length && !(sql[j] === c && sql[j + 1] !== c)) j += sql[j] === c ? 2 : sql[j] === '\\' && c !== '"' ? 2 : 1;
      out += sql.slice(i, j + 1);
      i = j + 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const j = sql.indexOf('\n', i);
      const end = j < 0 ? sql.length : j;
      out += sql.slice(i, end);
      i = end;
    } else if (c === '/' && sql[i + 1] === '*') {
      const j = sql.indexOf('*/', i + 2);
      const end = j < 0 ? sql.length : j + 2;
      out += sql.slice(i, end);
      i = end;
    } else if (c === '$' && /[0-9]/.test(sql[i + 1] ?? '')) {
      let j = i + 1;
      while (/[0-9]/.test(sql[j] ?? '')) j++;
      const n = Number(sql.slice(i + 1, j));
      if (n < 1 || (params !== 'nulls' && n > params.length)) throw new ConnectorError('bad_request', `there is no parameter $${n}`, { sqlstate: '42P02' });
      values.push(params === 'nulls' ? null : params[n - 1]);
      count = Math.max(count, n);
      out += '?';
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return { sql: out, values, count };
}

/** A describe on an engine that cannot describe: the client's types, else text, for each parameter used. */
export const describedParamTypes = (declared: number[] | undefined, count: number) => Array.from({ length: count }, (_, i) => declared?.[i] || OID.text);
