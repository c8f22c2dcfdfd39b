import type { Logger } from '@nestjs/common';
import { outageOf, STORE_NAMES, type Store } from '../http/outage';

/**
 * Reports the failures of a recurring task so that an outage is two log lines, not one per tick: the first failure
 * of a store out of reach (warn: the task waits), and the first success after it (the task resumed). Any other
 * failure is a real fault, logged at error every time with the stack.
 */
export class OutageWatch {
  private down: Store | null = null;

  constructor(
    private readonly logger: Pick<Logger, 'warn' | 'error' | 'log'>,
    private readonly what: string,
  ) {}

  failed(e: Error) {
    const store = outageOf(e);
    if (!store) return this.logger.error(`${this.what} failed: ${e.message}`, e.stack);
    if (this.down === store) return;
    this.down = store;
    this.logger.warn(`${STORE_NAMES[store]} is unreachable: the ${this.what} waits and resumes when it is back (${e.message})`);
  }

  succeeded() {
    if (!this.down) return;
    this.logger.log(`${STORE_NAMES[this.down]} is back: the ${this.what} resumed`);
    this.down = null;
  }
}
