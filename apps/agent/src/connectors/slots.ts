/**
 * At most `size` holders at a time; the others wait in arrival order, without a deadline. Refreshes wait for a
 * connection to their data source this way: a refresh is queued work, bounded by its own timeout, not by a
 * deadline for getting a connection.
 */
export class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async acquire(): Promise<() => void> {
    if (this.used < this.size) this.used += 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve)); // the slot is handed over by release
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.used -= 1;
    };
  }
}
