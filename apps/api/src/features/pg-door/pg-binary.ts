/**
 * PostgreSQL's binary format for the types clients ask it for (pgjdbc, psycopg's binary cursors, asyncpg), from and
 * to the text form the members return. A type not listed here is sent as text, said so in its RowDescription.
 */
const EPOCH_2000_MS = Date.UTC(2000, 0, 1);
const TEXT_LIKE = new Set([25, 1043, 1042, 19, 114, 142, 705]);

const int = (n: number, bytes: 2 | 4) => {
  const b = Buffer.allocUnsafe(bytes);
  if (bytes === 2) b.writeInt16BE(n);
  else b.writeInt32BE(n);
  return b;
};

const TIMESTAMP = /^(\d{4,})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?)?( BC)?$/;

/** Microseconds since 2000-01-01 of a timestamp in ISO text form; null when it is not one. */
function micros(text: string): bigint | null {
  if (text === 'infinity') return 0x7fffffffffffffffn;
  if (text === '-infinity') return -0x8000000000000000n;
  const m = TIMESTAMP.exec(text);
  if (!m || m[12]) return null;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  const offset = m[8] ? (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0)) : 0;
  return (BigInt(ms - EPOCH_2000_MS) / 1000n - BigInt(offset)) * 1_000_000n + BigInt((m[7] ?? '').padEnd(6, '0') || '0');
}

/** Whether values of the type can be sent in binary. */
export function hasBinary(oid: number): boolean {
  return TEXT_LIKE.has(oid) || oid in TO_BINARY;
}

const TO_BINARY: Record<number, (t: string) => Buffer | null> = {
  16: (t) => Buffer.from([t === 't' || t === 'true' ? 1 : 0]),
  17: (t) => (t.startsWith('\\x') ? Buffer.from(t.slice(2), 'hex') : null),
  20: (t) => {
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(BigInt(t));
    return b;
  },
  21: (t) => int(Number(t), 2),
  23: (t) => int(Number(t), 4),
  26: (t) => {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(Number(t));
    return b;
  },
  700: (t) => {
    const b = Buffer.allocUnsafe(4);
    b.writeFloatBE(Number(t));
    return b;
  },
  701: (t) => {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleBE(Number(t));
    return b;
  },
  2950: (t) => (/^[0-9a-f-]{32,36}$/i.test(t) ? Buffer.from(t.replace(/-/g, ''), 'hex') : null),
  3802: (t) => Buffer.concat([Buffer.from([1]), Buffer.from(t)]),
  1082: (t) => {
    const m = /^(\d{4})-(\d\d)-(\d\d)$/.exec(t);
    if (!m) return t === 'infinity' ? int(0x7fffffff, 4) : t === '-infinity' ? int(-0x80000000, 4) : null;
    return int(Math.round((Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) - EPOCH_2000_MS) / 86_400_000), 4);
  },
  1114: (t) => timestampBinary(t),
  1184: (t) => timestampBinary(t),
};

function timestampBinary(t: string): Buffer | null {
  const us = micros(t);
  if (us === null) return null;
  const b = Buffer.allocUnsafe(8);
  b.writeBigInt64BE(us);
  return b;
}

/** A text value in binary, or null when this value of the type cannot be (the column then goes as text). */
export function toBinary(oid: number, text: string): Buffer | null {
  if (TEXT_LIKE.has(oid)) return Buffer.from(text);
  return TO_BINARY[oid]?.(text) ?? null;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function timestampText(us: bigint, zone: boolean): string {
  const ms = Number(us / 1000n) + EPOCH_2000_MS;
  const d = new Date(ms);
  const frac = Number(((us % 1_000_000n) + 1_000_000n) % 1_000_000n);
  const text = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac ? `.${pad(frac, 6)}` : ''}`;
  return zone ? `${text}+00` : text;
}

const FROM_BINARY: Record<number, (b: Buffer) => string> = {
  16: (b) => (b[0] ? 't' : 'f'),
  17: (b) => `\\x${b.toString('hex')}`,
  20: (b) => b.readBigInt64BE().toString(),
  21: (b) => String(b.readInt16BE()),
  23: (b) => String(b.readInt32BE()),
  26: (b) => String(b.readUInt32BE()),
  700: (b) => String(b.readFloatBE()),
  701: (b) => String(b.readDoubleBE()),
  2950: (b) => b.toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'),
  3802: (b) => b.subarray(1).toString(),
  1082: (b) => {
    const d = new Date(EPOCH_2000_MS + b.readInt32BE() * 86_400_000);
    return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  },
  1114: (b) => timestampText(b.readBigInt64BE(), false),
  1184: (b) => timestampText(b.readBigInt64BE(), true),
};

/** A parameter sent in binary, as text for the member; null when the gateway cannot read that type in binary. */
export function fromBinary(oid: number, value: Buffer): string | null {
  if (TEXT_LIKE.has(oid)) return value.toString();
  const f = FROM_BINARY[oid] as ((b: Buffer) => string) | undefined;
  return f && (oid !== 16 || value.length === 1) ? f(value) : null;
}
