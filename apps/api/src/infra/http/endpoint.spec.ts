import 'reflect-metadata';
import { StreamableFile } from '@nestjs/common';
import { z } from 'zod';
import { Endpoint, RowSlices, STREAM_ROWS_OVER } from './endpoint';

const Reply = z.object({ columns: z.array(z.object({ name: z.string() })), rows: z.array(z.array(z.unknown())), truncated: z.boolean() });

class Handlers {
  constructor(private readonly reply: unknown) {}

  @Endpoint({ operationId: 'runIt', summary: 'run', auth: 'user', tag: 't', response: Reply, streamRows: true })
  run() {
    return this.reply;
  }
}

async function text(file: StreamableFile) {
  let out = '';
  for await (const chunk of file.getStream()) out += chunk.toString();
  return out;
}

describe('Endpoint with streamRows', () => {
  const columns = [{ name: 'n', secret: 'not declared' }, { name: 's' }];

  it('answers a small result as the shaped object', async () => {
    const reply = await new Handlers({ columns, rows: [[1, 'a']], truncated: false, password: 'x' }).run();
    expect(reply).toEqual({ columns: [{ name: 'n' }, { name: 's' }], rows: [[1, 'a']], truncated: false });
  });

  it('writes a large result as JSON a slice at a time: the same reply, the envelope shaped, each row let go once written', async () => {
    const n = STREAM_ROWS_OVER * 30;
    const rows = Array.from({ length: n }, (_, i) => [i, `row ${i} "quoted" \u00e9 ${'x'.repeat(i % 50)}`, null, { nested: [i] }]);
    const expected = rows.map((r) => [...r]);
    const reply = (await new Handlers({ columns, rows, truncated: true, password: 'x' }).run()) as StreamableFile;
    expect(reply).toBeInstanceOf(StreamableFile);
    expect(reply.getHeaders().type).toBe('application/json; charset=utf-8');
    const stream = reply.getStream();
    const chunks: string[] = [];
    for await (const chunk of stream) chunks.push(chunk.toString());
    // Written in many slices, not one string of the whole reply.
    expect(chunks.length).toBeGreaterThan(10);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThan(128 * 1024);
    const body = JSON.parse(chunks.join(''));
    expect(body).toEqual({ columns: [{ name: 'n' }, { name: 's' }], truncated: true, rows: expected });
    expect(JSON.stringify(body)).not.toContain('not declared');
    expect(rows.every((r) => r === undefined)).toBe(true);
  });

  it('still refuses a reply whose envelope breaks the schema', async () => {
    const rows = Array.from({ length: STREAM_ROWS_OVER + 1 }, () => [1]);
    await expect(new Handlers({ columns, rows, truncated: 'no' }).run()).rejects.toThrow();
  });

  it('writes rows of every JSON type, with no columns', async () => {
    const rows = Array.from({ length: STREAM_ROWS_OVER + 1 }, (_, i) => [true, false, -i, 1.5e300, '', [], {}]);
    const body = JSON.parse(await text((await new Handlers({ columns: [], rows, truncated: false }).run()) as StreamableFile));
    expect(body.columns).toEqual([]);
    expect(body.rows).toHaveLength(STREAM_ROWS_OVER + 1);
    expect(body.rows[7]).toEqual([true, false, -7, 1.5e300, '', [], {}]);
  });

  it('writes rows held serialized (RowSlices) as they are, skipping empty slices, and lets each go', async () => {
    const slices = ['[1,"a"],[2,"b"]', '', '[3,null]', '[4,{"k":[5]}]'];
    const reply = (await new Handlers({ columns, rows: new RowSlices(slices, 4), truncated: false }).run()) as StreamableFile;
    expect(JSON.parse(await text(reply))).toEqual({ columns: [{ name: 'n' }, { name: 's' }], truncated: false, rows: [[1, 'a'], [2, 'b'], [3, null], [4, { k: [5] }]] });
    expect(slices).toEqual(['', '', '', '']);
    const none = (await new Handlers({ columns, rows: new RowSlices([''], 0), truncated: false }).run()) as StreamableFile;
    expect(JSON.parse(await text(none)).rows).toEqual([]);
  });
});
