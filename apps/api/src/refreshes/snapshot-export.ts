import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import type { PrismaService } from '../database/prisma.service';

const csvCell = (v: unknown): string => {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/**
 * Streams a snapshot chunk by chunk (one chunk in memory at a time) as NDJSON objects or CSV with a header.
 * Chunks hold gzip-compressed NDJSON arrays, in order.
 */
export function exportSnapshot(prisma: PrismaService, refreshId: string, attempt: number, columns: { name: string }[], format: 'csv' | 'ndjson'): Readable {
  const names = columns.map((c) => c.name);
  let seq = 0;
  let headerDone = false;
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
        const lines = gunzipSync(chunk.data).toString('utf8').split('\n').filter(Boolean);
        const out = lines.map((line) => {
          const row = JSON.parse(line) as unknown[];
          if (format === 'csv') return row.map(csvCell).join(',') + '\r\n';
          return JSON.stringify(Object.fromEntries(names.map((n, i) => [n, row[i]]))) + '\n';
        });
        this.push(out.join(''));
      } catch (e) {
        this.destroy(e as Error);
      }
    },
  });
}
