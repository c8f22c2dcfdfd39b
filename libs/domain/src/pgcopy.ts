/**
 * PostgreSQL's COPY text format, as agents store snapshots of PostgreSQL sources (the rows exactly as
 * `COPY (query) TO STDOUT` writes them, gzip-compressed), turned into JSON when a snapshot is read. The JSON
 * of each value is the one node-postgres' decoding followed by the gateway's JSON mapping gives for live
 * queries: numbers for int2/int4/oid/float, strings for int8 and numeric, JSON compacted, ISO strings for
 * timestamps; every other type goes through the text parser the caller passes (node-postgres' own).
 */

/** Turns one field of COPY's text format (never "\N") into its JSON text. */
export type CopyEncoder = (field: string) => string;
/** node-postgres' `types.getTypeParser(oid, 'text')`, passed in so this module depends on nothing. */
export type TextParserFor = (oid: number) => (text: string) => unknown;

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** Undoes COPY's text-format escaping (backslash, and the control characters it writes as \n, \t, ...). */
export function unescapeCopy(field: string): string {
  if (!field.includes('\\')) return field;
  return field.replace(/\\(.)/gs, (_, c: string) => ESCAPES[c] ?? c);
}

/** The gateway's JSON for a decoded value: dates as ISO strings, bytes as base64, big integers as strings. */
export function toJsonValue(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (typeof v === 'object' && v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (typeof v === 'bigint') return v.toString();
  return v;
}

const raw: CopyEncoder = (f) => f;
const float: CopyEncoder = (f) => (f === 'NaN' || f === 'Infinity' || f === '-Infinity' ? 'null' : f);
const bool: CopyEncoder = (f) => (f === 't' ? 'true' : 'false');
const text: CopyEncoder = (f) => JSON.stringify(unescapeCopy(f));
const json: CopyEncoder = (f) => JSON.stringify(JSON.parse(unescapeCopy(f)));

const TIMESTAMP = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?$/;

/**
 * timestamptz (and timestamp when this process runs in UTC, as node-postgres reads it in local time): the ISO
 * string node-postgres' Date would give, without building the Date. Anything unusual (BC, infinity, 5-digit
 * years) takes the slow path.
 */
function timestampEncoder(withZone: boolean, slow: CopyEncoder): CopyEncoder {
  return (f) => {
    const m = TIMESTAMP.exec(f);
    if (!m || withZone !== (m[8] !== undefined)) return slow(f);
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

export function copyEncoderFor(oid: number, parserFor: TextParserFor): CopyEncoder {
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
      const parse = parserFor(oid);
      const slow: CopyEncoder = (f) => JSON.stringify(toJsonValue(parse(unescapeCopy(f)))) ?? 'null';
      if (oid === 1184 || (oid === 1114 && localIsUtc())) return timestampEncoder(oid === 1184, slow);
      return slow;
    }
  }
}

/** The JSON text of every field of one COPY line (without its newline). */
export function copyLineToJsonFields(line: string, encoders: CopyEncoder[]): string[] {
  const fields = line.split('\t');
  for (let i = 0; i < fields.length; i++) fields[i] = fields[i] === '\\N' ? 'null' : encoders[i](fields[i]);
  return fields;
}

/** One COPY line as the JSON array line of an NDJSON snapshot. */
export function copyLineToJson(line: string, encoders: CopyEncoder[]): string {
  return `[${copyLineToJsonFields(line, encoders).join(',')}]`;
}
