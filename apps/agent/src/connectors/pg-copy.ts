import type { Submittable } from 'pg';
import { types } from 'pg';
import { toJsonValue } from './types';

/** Turns one field of COPY's text format (never "\N") into its JSON text. */
type Encoder = (field: string) => string;

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** Undoes COPY's text-format escaping (backslash, and the control characters it writes as \n, \t, ...). */
export function unescapeCopy(field: string): string {
  if (!field.includes('\\')) return field;
  return field.replace(/\\(.)/gs, (_, c: string) => ESCAPES[c] ?? c);
}

const raw: Encoder = (f) => f;
const float: Encoder = (f) => (f === 'NaN' || f === 'Infinity' || f === '-Infinity' ? 'null' : f);
const bool: Encoder = (f) => (f === 't' ? 'true' : 'false');
const text: Encoder = (f) => JSON.stringify(unescapeCopy(f));
const json: Encoder = (f) => JSON.stringify(JSON.parse(unescapeCopy(f)));

const TIMESTAMP = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?$/;

/**
 * timestamptz (and timestamp when this process runs in UTC, as node-postgres reads it in local time): the ISO
 * string node-postgres' Date would give, without building the Date. Anything unusual (BC, infinity, 5-digit
 * years) takes node-postgres' parser.
 */
function timestampEncoder(oid: 1114 | 1184, slow: Encoder): Encoder {
  return (f) => {
    const m = TIMESTAMP.exec(f);
    if (!m || (oid === 1184) !== (m[8] !== undefined)) return slow(f);
    const ms = (m[7] ?? '').padEnd(3, '0').slice(0, 3);
    if (!m[8] || (m[9] === '00' && !m[10] && !m[11])) return `"${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${ms}Z"`;
    const offset = (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0)) * 1000;
    const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), Number(ms)) - offset;
    return `"${new Date(t).toISOString()}"`;
  };
}

const localIsUtc = () => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return zone === 'UTC' || zone === 'Etc/UTC' || zone === 'Etc/GMT' || zone === 'GMT';
};

/**
 * The JSON a row value gets, the same as node-postgres' decoding followed by toJsonValue would give: numbers
 * for int2/int4/oid/float, strings for int8 and numeric, JSON compacted; every other type goes through
 * node-postgres' own parser for its OID, so dates, bytea and arrays come out exactly as in live queries.
 */
export function encoderFor(oid: number): Encoder {
  switch (oid) {
    case 21:
    case 23:
    case 26:
      return raw;
    case 700:
    case 701:
      return float;
    case 16:
      return bool;
    case 18:
    case 19:
    case 20:
    case 25:
    case 1042:
    case 1043:
    case 1700:
    case 2950:
      return text;
    case 114:
    case 3802:
      return json;
    default: {
      const parse = types.getTypeParser(oid, 'text') as (v: string) => unknown;
      const slow: Encoder = (f) => JSON.stringify(toJsonValue(parse(unescapeCopy(f)))) ?? 'null';
      if (oid === 1184 || (oid === 1114 && localIsUtc())) return timestampEncoder(oid, slow);
      return slow;
    }
  }
}

/** Encodes one COPY text-format line (without its newline) as an NDJSON array line. */
export function copyLineToJson(line: string, encoders: Encoder[]): string {
  const fields = line.split('\t');
  let out = '[';
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    if (i > 0) out += ',';
    out += f === '\\N' ? 'null' : encoders[i](f);
  }
  return out + ']';
}

type Wire = {
  parse(m: { text: string; types?: number[] }): void;
  bind(m: object): void;
  execute(m: object): void;
  sync(): void;
  stream: { pause(): void; resume(): void };
};

/**
 * `COPY (query) TO STDOUT` through the extended protocol (one statement, so nothing can be appended to the
 * user's query), decoded straight from COPY's text format into NDJSON batches of batchRows lines. While a
 * batch is being handled the socket is paused, so the server waits and memory holds one batch.
 */
export class CopyToNdjson implements Submittable {
  private readonly encoders: Encoder[];
  private lines: string[] = [];
  private rows = 0;
  private error: Error | null = null;
  private pending: Promise<void> = Promise.resolve();
  private handing = 0;
  private settled = false;
  private resolve!: (rows: number) => void;
  private reject!: (e: Error) => void;
  private wire!: Wire;
  readonly done = new Promise<number>((res, rej) => {
    this.resolve = res;
    this.reject = rej;
  });

  constructor(
    private readonly copySql: string,
    oids: number[],
    private readonly batchRows: number,
    private readonly onBatch: (ndjson: string, rows: number) => Promise<void>,
  ) {
    this.encoders = oids.map(encoderFor);
  }

  submit(connection: unknown) {
    this.wire = connection as Wire;
    this.wire.parse({ text: this.copySql, types: [] });
    this.wire.bind({});
    this.wire.execute({});
    this.wire.sync();
  }

  handleCopyData(msg: { chunk: Buffer }) {
    if (this.error) return;
    try {
      // One row per CopyData message; its text ends with a newline.
      const s = msg.chunk.toString('utf8');
      for (const line of s.split('\n')) if (line) this.lines.push(copyLineToJson(line, this.encoders));
      if (this.lines.length >= this.batchRows) this.flush();
    } catch (e) {
      this.error = e as Error;
    }
  }

  private flush() {
    if (!this.lines.length) return;
    const batch = this.lines;
    const count = batch.length;
    this.lines = [];
    this.rows += count;
    // Nothing more is read from the server until the batches are handed over.
    this.handing += 1;
    this.wire.stream.pause();
    this.pending = this.pending
      .then(() => (this.error ? undefined : this.onBatch(batch.join('\n') + '\n', count)))
      .catch((e) => {
        this.error ??= e as Error;
      })
      .finally(() => {
        this.handing -= 1;
        if (this.handing === 0) this.wire.stream.resume();
      });
  }

  handleRowDescription() {}
  handleDataRow() {}
  handleCommandComplete() {}
  handlePortalSuspended() {}
  handleEmptyQuery() {}

  handleError(err: Error) {
    this.error ??= err;
    void this.pending.finally(() => this.settle());
  }

  handleReadyForQuery() {
    if (!this.error) this.flush();
    void this.pending.finally(() => this.settle());
  }

  private settle() {
    if (this.settled) return;
    this.settled = true;
    if (this.error) this.reject(this.error);
    else this.resolve(this.rows);
  }
}
