import { LiveLanes, type Lane, type LaneWorker } from './live-lanes';

/** Records what the lanes ask of each worker (a BullMQ Worker in the agent). */
class FakeWorker implements LaneWorker {
  calls: string[] = [];
  /** Whether its main loop runs (BullMQ's `running`); a test may end the loop, as a paused worker's does. */
  running = false;
  constructor(readonly concurrency: number) {}
  run() {
    if (this.running) throw new Error('Worker is already running.');
    this.running = true;
    this.calls.push('run');
    return new Promise<void>(() => undefined);
  }
  isRunning() {
    return this.running;
  }
  async pause(doNotWaitActive?: boolean) {
    this.calls.push(doNotWaitActive ? 'pause(no wait)' : 'pause');
  }
  resume() {
    this.calls.push('resume');
  }
  async close(force?: boolean) {
    this.calls.push(force ? 'close(force)' : 'close');
  }
}

function lanes(options: { max?: number; slowMeanMs?: number; lingerMs?: number } = {}) {
  const made: Record<Lane, FakeWorker[]> = { steady: [], overflow: [] };
  const changes: string[] = [];
  const l = new LiveLanes(
    (lane, concurrency) => {
      const w = new FakeWorker(concurrency);
      made[lane].push(w);
      return w;
    },
    { max: options.max ?? 16, steady: 4, longAfterMs: 25, slowMeanMs: options.slowMeanMs ?? 1, lingerMs: options.lingerMs ?? 40, onChange: (open, why) => changes.push(`${open ? 'open' : 'closed'}: ${why}`) },
  );
  // Every steady worker gets the same calls; the first stands for them all once that is checked.
  const workers = {
    get steady() {
      expect(new Set(made.steady.map((w) => JSON.stringify(w.calls))).size).toBe(1);
      return made.steady[0];
    },
    get overflow() {
      expect(made.overflow.length).toBeLessThanOrEqual(1);
      return made.overflow[0];
    },
  };
  return { l, workers, made, changes };
}

const busyWait = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('LiveLanes', () => {
  it('splits the concurrency into a steady lane of 4 single-slot workers and an overflow worker with the rest', () => {
    const { made } = lanes({ max: 16 });
    expect(made.steady.map((w) => w.concurrency)).toEqual([1, 1, 1, 1]);
    expect(made.overflow.map((w) => w.concurrency)).toEqual([12]);
  });

  it('has no overflow lane when the concurrency fits the steady lane', () => {
    const { l, made } = lanes({ max: 3 });
    expect(made.steady.map((w) => w.concurrency)).toEqual([1, 1, 1]);
    expect(made.overflow).toEqual([]);
    expect(l.overflow).toBeNull();
    l.serve();
    const tickets = [1, 2, 3].map(() => l.begin('steady'));
    tickets.forEach((t) => t.runningLong());
    expect(l.overflowOpen).toBe(false);
  });

  it('keeps the overflow lane closed while the steady slots turn over fast jobs', () => {
    // A threshold far above anything this loop takes, however the machine schedules it.
    const { l, workers } = lanes({ slowMeanMs: 50 });
    l.serve();
    for (let i = 0; i < 200; i++) {
      const batch = [1, 2, 3, 4].map(() => l.begin('steady'));
      batch.forEach((t) => t.end());
    }
    expect(l.overflowOpen).toBe(false);
    expect(workers.steady.calls).toEqual(['run']);
    expect(workers.overflow.calls).toEqual([]);
  });

  it('opens the overflow lane when every steady slot holds a long job', () => {
    const { l, workers, changes } = lanes();
    l.serve();
    const tickets = [1, 2, 3, 4].map(() => l.begin('steady'));
    tickets.slice(0, 3).forEach((t) => t.runningLong());
    expect(l.overflowOpen).toBe(false);
    tickets[3].runningLong();
    expect(l.overflowOpen).toBe(true);
    expect(workers.overflow.calls).toEqual(['run']);
    expect(changes).toEqual(['open: all 4 steady slots hold jobs running over 25 ms']);
  });

  it('opens the overflow lane when the steady slots are full of jobs slower than the threshold on average', () => {
    const { l, changes } = lanes({ slowMeanMs: 2 });
    l.serve();
    for (let i = 0; i < 3; i++) {
      const t = l.begin('steady');
      busyWait(3);
      t.end();
    }
    const held = [1, 2, 3].map(() => l.begin('steady'));
    expect(l.overflowOpen).toBe(false); // three busy slots: the steady lane still has room
    held.push(l.begin('steady'));
    expect(l.overflowOpen).toBe(true);
    expect(changes[0]).toMatch(/^open: the steady slots are full of jobs taking \d+\.\d ms on average$/);
  });

  it('closes the overflow lane once it has not been needed for the linger time, and reopens it with resume', async () => {
    const { l, workers, changes } = lanes({ lingerMs: 40 });
    l.serve();
    const tickets = [1, 2, 3, 4].map(() => l.begin('steady'));
    tickets.forEach((t) => t.runningLong());
    await sleep(80);
    expect(l.overflowOpen).toBe(true); // still needed: the long jobs hold the steady slots
    tickets.forEach((t) => t.end());
    await sleep(120);
    expect(l.overflowOpen).toBe(false);
    expect(workers.overflow.calls).toEqual(['run', 'pause(no wait)']);
    expect(changes[1]).toBe('closed: not needed for 40 ms');
    const again = [1, 2, 3, 4].map(() => l.begin('steady'));
    again.forEach((t) => t.runningLong());
    expect(workers.overflow.calls).toEqual(['run', 'pause(no wait)', 'resume']);
    await l.close();
  });

  it('never opens the overflow lane for a member that does not serve, and pauses both lanes when it stops serving', async () => {
    const { l, workers } = lanes();
    const idle = [1, 2, 3, 4].map(() => l.begin('steady'));
    idle.forEach((t) => t.runningLong());
    expect(l.overflowOpen).toBe(false);
    idle.forEach((t) => t.end());

    l.serve();
    const tickets = [1, 2, 3, 4].map(() => l.begin('steady'));
    tickets.forEach((t) => t.runningLong());
    expect(l.overflowOpen).toBe(true);
    await l.stopServing();
    expect(l.overflowOpen).toBe(false);
    expect(workers.steady.calls).toEqual(['run', 'pause']);
    expect(workers.overflow.calls).toEqual(['run', 'pause(no wait)', 'resume', 'pause']);
    l.serve();
    expect(workers.steady.calls).toEqual(['run', 'pause', 'resume']);
    await l.close(true);
    expect(workers.steady.calls.at(-1)).toBe('close(force)');
    expect(workers.overflow.calls.at(-1)).toBe('close(force)');
  });

  it('starts the loop again of a worker whose loop ended as it was being resumed', async () => {
    const { l, workers } = lanes({ lingerMs: 20 });
    l.serve();
    const first = [1, 2, 3, 4].map(() => l.begin('steady'));
    first.forEach((t) => t.runningLong());
    first.forEach((t) => t.end());
    await sleep(60);
    expect(l.overflowOpen).toBe(false);
    // The paused overflow worker's loop ends, and BullMQ's resume() only unpauses a worker it thinks still runs.
    workers.overflow.running = false;
    workers.overflow.resume = function () {
      this.calls.push('resume');
      this.running = true; // still "running" for resume()...
      void Promise.resolve().then(() => (this.running = false)); // ...until, a few microtasks on, the loop's finally says otherwise
    };
    const again = [1, 2, 3, 4].map(() => l.begin('steady'));
    again.forEach((t) => t.runningLong());
    await sleep(20);
    expect(workers.overflow.calls).toEqual(['run', 'pause(no wait)', 'resume', 'run']);
    expect(workers.overflow.running).toBe(true);
    await l.close();
  });

  it('counts only the steady lane: jobs in the overflow lane neither open nor hold it', () => {
    const { l } = lanes();
    l.serve();
    const overflowJobs = Array.from({ length: 12 }, () => l.begin('overflow'));
    overflowJobs.forEach((t) => t.runningLong());
    expect(l.overflowOpen).toBe(false);
  });
});
