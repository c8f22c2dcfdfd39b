import { BufferReader } from 'pg-protocol/dist/buffer-reader';
import { Writer } from 'pg-protocol/dist/buffer-writer';

/**
 * The PostgreSQL v3 messages the front door reads and writes after sign-in (pg-gateway frames them and runs the
 * startup and authentication before that). Fields are read and written with node-postgres' own BufferReader and
 * Writer; DataRow, by far the most frequent message, is written straight into one buffer per batch.
 */
export type Frontend =
  | { t: 'Q'; sql: string }
  | { t: 'P'; name: string; sql: string; types: number[] }
  | { t: 'B'; portal: string; statement: string; paramFormats: number[]; params: (Buffer | null)[]; resultFormats: number[] }
  | { t: 'D'; kind: 'S' | 'P'; name: string }
  | { t: 'E'; portal: string; maxRows: number }
  | { t: 'C'; kind: 'S' | 'P'; name: string }
  | { t: 'S' }
  | { t: 'H' }
  | { t: 'X' }
  | { t: 'other'; code: string };

export function decode(message: Uint8Array): Frontend {
  const buf = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  const code = String.fromCharCode(buf[0]);
  const r = new BufferReader();
  r.setBuffer(5, buf);
  switch (code) {
    case 'Q':
      return { t: 'Q', sql: r.cstring() };
    case 'P': {
      const name = r.cstring();
      const sql = r.cstring();
      const n = r.int16();
      const types: number[] = [];
      for (let i = 0; i < n; i++) types.push(r.uint32());
      return { t: 'P', name, sql, types };
    }
    case 'B': {
      const portal = r.cstring();
      const statement = r.cstring();
      const nf = r.int16();
      const paramFormats: number[] = [];
      for (let i = 0; i < nf; i++) paramFormats.push(r.int16());
      const np = r.int16();
      const params: (Buffer | null)[] = [];
      for (let i = 0; i < np; i++) {
        const len = r.int32();
        params.push(len < 0 ? null : r.bytes(len));
      }
      const nr = r.int16();
      const resultFormats: number[] = [];
      for (let i = 0; i < nr; i++) resultFormats.push(r.int16());
      return { t: 'B', portal, statement, paramFormats, params, resultFormats };
    }
    case 'D':
    case 'C': {
      const kind = String.fromCharCode(r.byte()) === 'S' ? 'S' : 'P';
      return { t: code, kind, name: r.cstring() };
    }
    case 'E':
      return { t: 'E', portal: r.cstring(), maxRows: r.int32() };
    case 'S':
    case 'H':
    case 'X':
      return { t: code };
    default:
      return { t: 'other', code };
  }
}

const w = new Writer();

export interface Field {
  name: string;
  oid: number;
  size?: number;
  mod?: number;
  format: number;
}

export const enc = {
  parseComplete: () => w.flush(0x31),
  bindComplete: () => w.flush(0x32),
  closeComplete: () => w.flush(0x33),
  noData: () => w.flush(0x6e),
  portalSuspended: () => w.flush(0x73),
  emptyQuery: () => w.flush(0x49),
  ready: (status: 'I' | 'T' | 'E') => w.addString(status).flush(0x5a),
  commandComplete: (tag: string) => w.addCString(tag).flush(0x43),
  parameterStatus: (name: string, value: string) => w.addCString(name).addCString(value).flush(0x53),
  backendKeyData: (pid: number, secret: number) => w.addInt32(pid).addInt32(secret).flush(0x4b),
  parameterDescription(types: number[]) {
    w.addInt16(types.length);
    for (const t of types) w.addInt32(t | 0);
    return w.flush(0x74);
  },
  rowDescription(fields: Field[]) {
    w.addInt16(fields.length);
    for (const f of fields) w.addCString(f.name).addInt32(0).addInt16(0).addInt32(f.oid | 0).addInt16(f.size ?? -1).addInt32(f.mod ?? -1).addInt16(f.format);
    return w.flush(0x54);
  },
  /** ErrorResponse (or NoticeResponse with code 0x4e): severity, SQLSTATE, message and the optional fields. */
  error(e: { severity?: string; code: string; message: string; detail?: string; hint?: string; position?: string }, type = 0x45) {
    const severity = e.severity ?? 'ERROR';
    w.addString('S').addCString(severity).addString('V').addCString(severity).addString('C').addCString(e.code).addString('M').addCString(e.message);
    if (e.detail) w.addString('D').addCString(e.detail);
    if (e.hint) w.addString('H').addCString(e.hint);
    if (e.position) w.addString('P').addCString(e.position);
    w.addCString('');
    return w.flush(type);
  },
};

/** DataRow messages of many rows, in one buffer: each value already encoded (text as UTF-8, or binary). */
export function dataRows(rows: (Buffer | string | null)[][]): Buffer {
  let size = 0;
  for (const row of rows) {
    size += 7;
    for (const v of row) size += 4 + (v === null ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length);
  }
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (const row of rows) {
    const start = o;
    out[o] = 0x44;
    o += 5;
    out.writeInt16BE(row.length, o);
    o += 2;
    for (const v of row) {
      if (v === null) {
        out.writeInt32BE(-1, o);
        o += 4;
      } else if (typeof v === 'string') {
        const n = out.write(v, o + 4);
        out.writeInt32BE(n, o);
        o += 4 + n;
      } else {
        out.writeInt32BE(v.length, o);
        v.copy(out, o + 4);
        o += 4 + v.length;
      }
    }
    out.writeInt32BE(o - start - 1, start + 1);
  }
  return out;
}
