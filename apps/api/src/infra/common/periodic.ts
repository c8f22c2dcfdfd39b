/**
 * Runs a task every `everyMs`, never two runs at once (a slow run makes the next tick skip), and logs a
 * failed run instead of crashing the process. Used by the scheduler and the reconciler.
 */
export class Periodic {
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(
    private readonly everyMs: number,
    private readonly task: () => Promise<void>,
    private readonly onError: (e: Error) => void,
    private readonly onSuccess: () => void = () => undefined,
  ) {}

  start() {
    this.timer ??= setInterval(() => void this.runOnce(), this.everyMs);
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async runOnce() {
    if (this.running) return;
    this.running = true;
    try {
      await this.task();
      this.onSuccess();
    } catch (e) {
      this.onError(e as Error);
    } finally {
      this.running = false;
    }
  }
}
