import { sleep } from './wait';

/** One answer of a client loop: when it was asked and answered, with what, by whom. */
export interface LoopAnswer {
  startedAt: number;
  endedAt: number;
  status: number;
  member?: string;
  attempts?: number;
  error?: string;
}

type Served = { servedBy?: { memberName?: string }; timings?: { attempts?: number }; message?: string };

/**
 * A client asking the same live query again and again (one at a time, `everyMs` apart), recording every answer.
 * A request that throws (connection refused, reset, or no answer within `timeoutMs`) is recorded with status 0.
 */
export class QueryLoop {
  readonly answers: LoopAnswer[] = [];
  private running = true;
  private readonly done: Promise<void>;

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly body: Record<string, unknown>,
    private readonly everyMs = 20,
    private readonly timeoutMs = 20_000,
  ) {
    this.done = this.loop();
  }

  private async loop() {
    while (this.running) {
      const startedAt = Date.now();
      try {
        const res = await fetch(this.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
          body: JSON.stringify(this.body),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        const body = (await res.json()) as Served;
        this.answers.push({
          startedAt,
          endedAt: Date.now(),
          status: res.status,
          member: body.servedBy?.memberName,
          attempts: body.timings?.attempts,
          ...(res.status === 200 ? {} : { error: body.message }),
        });
      } catch (e) {
        const cause = (e as { cause?: unknown }).cause;
        this.answers.push({ startedAt, endedAt: Date.now(), status: 0, error: `${(e as Error).message}${cause ? `: ${String(cause)}` : ''}` });
      }
      await sleep(this.everyMs);
    }
  }

  get last(): LoopAnswer | undefined {
    return this.answers.at(-1);
  }

  async stop() {
    this.running = false;
    await this.done;
  }

  /** Answers other than 200. */
  get failures() {
    return this.answers.filter((a) => a.status !== 200);
  }

  /** The longest time between two consecutive answers (or from `from` to the first answer after it). */
  longestGap(from?: number): { ms: number; after: number } {
    const ends = this.answers.filter((a) => a.status === 200).map((a) => a.endedAt);
    if (from !== undefined) ends.push(from);
    ends.sort((a, b) => a - b);
    let ms = 0;
    let after = ends[0] ?? 0;
    for (let i = 1; i < ends.length; i++) {
      if (ends[i] - ends[i - 1] > ms) {
        ms = ends[i] - ends[i - 1];
        after = ends[i - 1];
      }
    }
    return { ms, after };
  }

  /** How many answers each member gave. */
  byMember(answers = this.answers) {
    const counts: Record<string, number> = {};
    for (const a of answers) counts[a.member ?? `status ${a.status}`] = (counts[a.member ?? `status ${a.status}`] ?? 0) + 1;
    return counts;
  }
}
