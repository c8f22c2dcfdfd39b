import type { Submittable } from 'pg';
import { writeTogether } from './pg-pipeline';

type Wire = {
  parse(m: { text: string; types?: number[] }): void;
  bind(m: object): void;
  execute(m: object): void;
  sync(): void;
  stream: { pause(): void; resume(): void };
};

const EMPTY = Buffer.alloc(0);
/** A first batch starts this large: a small result (most scheduled refreshes) never takes more. */
const FIRST_CAPACITY = 64 * 1024;

/**
 * `COPY (query) TO STDOUT` through the extended protocol (one statement, so nothing can be appended to the
 * user's query), handed over as it comes: batches of batchRows rows of COPY's text format, untouched (the
 * API turns them into JSON or CSV when the snapshot is read). While a batch is being handled the socket is
 * paused, so the server waits and memory holds a batch or two.
 */
export class CopyOut implements Submittable {
  /** The batch being filled (allocated at its first row), and the size the last one reached. */
  private buffer = EMPTY;
  private used = 0;
  private capacity = FIRST_CAPACITY;
  private partRows = 0;
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
    private readonly batchRows: number,
    private readonly onBatch: (data: Buffer, rows: number) => Promise<void>,
  ) {}

  submit(connection: unknown) {
    const wire = (this.wire = connection as Wire);
    writeTogether(connection, () => {
      wire.parse({ text: this.copySql, types: [] });
      wire.bind({});
      wire.execute({});
      wire.sync();
    });
  }

  handleCopyData(msg: { chunk: Buffer }) {
    if (this.error) return;
    // One row per CopyData message. The parser's buffer is reused: the row is copied into the batch's buffer
    // (one copy, and no allocation per row), which grows by doubling and starts at the size the last one reached.
    const chunk = msg.chunk;
    if (this.used + chunk.length > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buffer.length ? this.buffer.length * 2 : this.capacity, this.used + chunk.length));
      this.buffer.copy(grown, 0, 0, this.used);
      this.buffer = grown;
      this.capacity = grown.length;
    }
    this.used += chunk.copy(this.buffer, this.used);
    this.partRows += 1;
    if (this.partRows >= this.batchRows) this.flush();
  }

  private flush() {
    if (!this.partRows) return;
    const data = this.buffer.subarray(0, this.used);
    const count = this.partRows;
    this.buffer = EMPTY;
    this.used = 0;
    this.partRows = 0;
    this.rows += count;
    // Nothing more is read from the server until the batches are handed over.
    this.handing += 1;
    this.wire.stream.pause();
    this.pending = this.pending
      .then(() => (this.error ? undefined : this.onBatch(data, count)))
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
