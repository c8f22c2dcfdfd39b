import { Readable } from 'node:stream';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { types } from 'pg';
import { copyEncoderFor, copyLineToJsonFields, type CopyEncoder } from '@gateway/domain';
import type { PrismaService } from '../../infra/database/prisma.service';

const csvCell = (v: unknown): string => {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** node-postgres' text parsers: a pgcopy snapshot reads exactly as the same rows would through a live query. */
const parserFor = (oid: number) => types.getTypeParser(oid, 'text') as (text: string) => unknown;

export interface SnapshotColumn {
  name: string;
  oid?: number;
}

/**
 * Streams a snapshot chunk by chunk (one chunk in memory at a time) as NDJSON objects or CSV with a header.
 * Chunks are compressed (Brotli, or gzip from older agents), in order, each either NDJSON arrays or
 * PostgreSQL's COPY text format.
 */
export function exportSnapshot(prisma: PrismaService, refreshId: string, attempt: number, columns: SnapshotColumn[], format: 'csv' | 'ndjson'): Readable {
  const names = columns.map((c) => c.name);
  const keys = names.map((n) => JSON.stringify(n));
  let encoders: CopyEncoder[] | null = null;
  let seq = 0;
  let headerDone = false;
  const fromJsonArray = (line: string) => {
    const row = JSON.parse(line) as unknown[];
    if (format === 'csv') return row.map(csvCell).join(',') + '\r\n';
    return JSON.stringify(Object.fromEntries(names.map((n, i) => [n, row[i]]))) + '\n';
  };
  const fromCopyLine = (line: string) => {
    // Unknown type ids (a snapshot from before they were recorded) read as text.
    encoders ??= columns.map((c) => copyEncoderFor(c.oid ?? 25, parserFor));
    const fields = copyLineToJsonFields(line, encoders);
    if (format === 'csv') return fields.map((f) => csvCell(JSON.parse(f))).join(',') + '\r\n';
    return `{${fields.map((f, i) => `${keys[i]}:${f}`).join(',')}}\n`;
  };
  return new Readable({
    async read() {
      try {
        if (format === 'csv' && !headerDone) {
          headerDone = true;
          this.push(names.map(csvCell).join(',') + '\r\n');
          return;
        }
        const chunk = await prisma.snapshotChunk.findUnique({ where: { refreshId_attempt_seq: { refreshId, attempt, seq } } });
        if (!chunk) {
          this.push(null);
          return;
        }
        seq += 1;
        const lines = (chunk.encoding === 'br' ? brotliDecompressSync : gunzipSync)(chunk.data).toString('utf8').split('\n').filter(Boolean);
        this.push(lines.map(chunk.format === 'pgcopy' ? fromCopyLine : fromJsonArray).join(''));
      } catch (e) {
        this.destroy(e as Error);
      }
    },
  });
}
