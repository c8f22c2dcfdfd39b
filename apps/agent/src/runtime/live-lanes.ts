/** The part of a BullMQ Worker the lanes drive (unit tests pass fakes). */
export interface LaneWorker {
  run(): Promise<void>;
  isRunning(): boolean;
  pause(doNotWaitActive?: boolean): Promise<void>;
  resume(): void;
  close(force?: boolean): Promise<void>;
}

export type Lane = 'steady' | 'overflow';

export interface LaneOptions {
  /** Jobs this member runs at once, both lanes together. */
  max: number;
  /** Slots of the steady lane (always open while serving): one single-slot worker each. */
  steady?: number;
  /** A job running longer than this holds its slot "long" (the agent announces it as started then too). */
  longAfterMs?: number;
  /** Steady jobs taking this long on average are worth running more of at once. */
  slowMeanMs?: number;
  /** The overflow lane closes once it has not been needed for this long. */
  lingerMs?: number;
  /** Called when the overflow lane opens or closes (logs). */
  onChange?: (open: boolean, why: string) => void;
  /** A lane's worker stopped with an error (logs). */
  onError?: (lane: Lane, error: Error) => void;
}

export const STEADY_SLOTS = 4;
const EWMA_WEIGHT = 0.2;

/**
 * Live jobs run in BullMQ workers on the same queue, in two lanes: a steady lane of a few single-slot workers,
 * always open, and an overflow lane, one worker holding the rest of the member's concurrency, opened only while
 * the steady lane is full of slow or long jobs.
 *
 * Why: a BullMQ worker with free slots waits for each job on its own (a blocking pop, then a script to move the
 * job to active), while a worker whose slots are all busy takes the next job in the same script that completes
 * the last one. For short queries a few busy slots are both faster and cheaper (measured: the full path's no-op
 * throughput about 1.4x with 4 slots than with 16, and about a third less CPU per job on the agent and in Redis).
 * Single-slot workers, because a worker with more slots, having got a job, first asks Redis for another one
 * (a round trip) and only then starts the first: that round trip was a sixth of an idle member's latency.
 * Slow or long queries still get every slot within `longAfterMs`.
 */
export class LiveLanes {
  private readonly steadySlots: number;
  private readonly longAfterMs: number;
  private readonly slowMeanMs: number;
  private readonly lingerMs: number;
  private steadyActive = 0;
  private steadyLong = 0;
  private meanMs = 0;
  private serving = false;
  private open = false;
  private overflowStarted = false;
  private lastNeeded = 0;
  private linger: NodeJS.Timeout | null = null;
  private steadyStarted = false;
  readonly steady: LaneWorker[];
  readonly overflow: LaneWorker | null;

  constructor(
    make: (lane: Lane, concurrency: number) => LaneWorker,
    private readonly options: LaneOptions,
  ) {
    this.steadySlots = Math.min(options.steady ?? STEADY_SLOTS, options.max);
    this.longAfterMs = options.longAfterMs ?? 25;
    this.slowMeanMs = options.slowMeanMs ?? 1;
    this.lingerMs = options.lingerMs ?? 1_000;
    this.steady = Array.from({ length: this.steadySlots }, () => make('steady', 1));
    this.overflow = options.max > this.steadySlots ? make('overflow', options.max - this.steadySlots) : null;
  }

  get overflowOpen() {
    return this.open;
  }

  /** Starts or resumes the steady lane (routing says this member serves). */
  serve() {
    this.serving = true;
    if (this.steadyStarted) {
      for (const w of this.steady) this.resume('steady', w);
    } else {
      this.steadyStarted = true;
      for (const w of this.steady) this.run('steady', w);
    }
  }

  private run(lane: Lane, worker: LaneWorker) {
    void worker.run().catch((e: Error) => this.options.onError?.(lane, e));
  }

  /**
   * BullMQ's resume() restarts a worker whose main loop has ended, and only unpauses one still running; a loop
   * ending in between (a few microtasks) would leave the worker unpaused with no loop. Looked at again once
   * that window has passed.
   */
  private resume(lane: Lane, worker: LaneWorker) {
    worker.resume();
    setImmediate(() => {
      const wanted = lane === 'steady' ? this.serving : this.open;
      if (wanted && !worker.isRunning()) this.run(lane, worker);
    });
  }

  /**
   * Stops taking jobs in both lanes. BullMQ's `pause()` also aborts a blocking fetch (so this member cannot
   * take one more job after routing moved the work elsewhere) and waits for the active jobs; on an overflow lane
   * closed earlier with `pause(true)` it would do nothing, hence the resume first (no fetch can start between
   * the two calls: both run in this tick).
   */
  async stopServing() {
    this.serving = false;
    this.closeOverflow('this member no longer serves');
    const overflow = this.overflow && this.overflowStarted ? this.overflow : null;
    overflow?.resume();
    const paused = await Promise.allSettled([...this.steady.map((w) => w.pause()), overflow?.pause()]);
    const failed = paused.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  async close(force = false) {
    this.serving = false;
    if (this.linger) clearInterval(this.linger);
    this.linger = null;
    await Promise.all([...this.steady.map((w) => w.close(force)), this.overflow?.close(force)]);
  }

  /**
   * A job starts in `lane`. The returned ticket says when the job has run long (the caller's timer at
   * `longAfterMs`) and when it ends.
   */
  begin(lane: Lane) {
    const t0 = performance.now();
    let long = false;
    if (lane === 'steady') {
      this.steadyActive += 1;
      this.consider();
    }
    return {
      runningLong: () => {
        if (lane !== 'steady' || long) return;
        long = true;
        this.steadyLong += 1;
        this.consider();
      },
      end: () => {
        if (lane !== 'steady') return;
        this.steadyActive -= 1;
        if (long) this.steadyLong -= 1;
        const took = performance.now() - t0;
        this.meanMs = this.meanMs === 0 ? took : this.meanMs + EWMA_WEIGHT * (took - this.meanMs);
      },
    };
  }

  private needed(): string | null {
    if (this.steadyActive < this.steadySlots) return null;
    if (this.steadyLong >= this.steadySlots) return `all ${this.steadySlots} steady slots hold jobs running over ${this.longAfterMs} ms`;
    if (this.meanMs >= this.slowMeanMs) return `the steady slots are full of jobs taking ${this.meanMs.toFixed(1)} ms on average`;
    return null;
  }

  private consider() {
    const why = this.needed();
    if (!why) return;
    this.lastNeeded = Date.now();
    if (this.open || !this.serving || !this.overflow) return;
    this.open = true;
    if (this.overflowStarted) {
      this.resume('overflow', this.overflow);
    } else {
      this.overflowStarted = true;
      this.run('overflow', this.overflow);
    }
    this.linger = setInterval(() => {
      if (this.needed()) this.lastNeeded = Date.now();
      else if (Date.now() - this.lastNeeded >= this.lingerMs) this.closeOverflow(`not needed for ${this.lingerMs} ms`);
    }, Math.max(10, Math.floor(this.lingerMs / 4)));
    this.linger.unref();
    this.options.onChange?.(true, why);
  }

  private closeOverflow(why: string) {
    if (this.linger) clearInterval(this.linger);
    this.linger = null;
    if (!this.open || !this.overflow) return;
    this.open = false;
    // Its active jobs finish; a blocking fetch it holds may still bring one more job, which it runs.
    void this.overflow.pause(true).catch(() => undefined);
    this.options.onChange?.(false, why);
  }
}
