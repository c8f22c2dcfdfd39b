import { brotliCompressSync, gzipSync } from 'node:zlib';
import type { PrismaService } from '../../infra/database/prisma.service';
import { exportSnapshot } from './snapshot-export';

type Chunk = { seq: number; format: string; encoding: string; data: Buffer };

/** The snapshot store as exportSnapshot reads it: chunk by chunk, by (refresh, attempt, seq). */
const store = (chunks: Chunk[]) =>
  ({
    snapshotChunk: {
      findUnique: async ({ where }: { where: { refreshId_attempt_seq: { seq: number } } }) => chunks.find((c) => c.seq === where.refreshId_attempt_seq.seq) ?? null,
    },
  }) as unknown as PrismaService;

const read = async (s: NodeJS.ReadableStream) => {
  let out = '';
  for await (const part of s) out += part;
  return out;
};

describe('exportSnapshot', () => {
  const columns = [
    { name: 'id', oid: 23 },
    { name: 'name', oid: 25 },
  ];

  it('reads Brotli chunks (what agents send) and gzip chunks (stored by older agents) alike, in order', async () => {
    const chunks: Chunk[] = [
      { seq: 0, format: 'pgcopy', encoding: 'br', data: brotliCompressSync('1\tone\n2\t\\N\n') },
      { seq: 1, format: 'pgcopy', encoding: 'gzip', data: gzipSync('3\tthree, "quoted"\n') },
      { seq: 2, format: 'ndjson', encoding: 'br', data: brotliCompressSync('[4,"four"]\n') },
      { seq: 3, format: 'ndjson', encoding: 'gzip', data: gzipSync('[5,null]\n') },
    ];
    expect(await read(exportSnapshot(store(chunks), 'r', 1, columns, 'ndjson'))).toBe(
      ['{"id":1,"name":"one"}', '{"id":2,"name":null}', '{"id":3,"name":"three, \\"quoted\\""}', '{"id":4,"name":"four"}', '{"id":5,"name":null}', ''].join('\n'),
    );
    expect(await read(exportSnapshot(store(chunks), 'r', 1, columns, 'csv'))).toBe(['id,name', '1,one', '2,', '3,"three, ""quoted"""', '4,four', '5,', ''].join('\r\n'));
  });

  it('fails the stream on a chunk whose data does not match its encoding', async () => {
    const chunks: Chunk[] = [{ seq: 0, format: 'pgcopy', encoding: 'gzip', data: brotliCompressSync('1\tone\n') }];
    await expect(read(exportSnapshot(store(chunks), 'r', 1, columns, 'ndjson'))).rejects.toThrow();
  });
});
