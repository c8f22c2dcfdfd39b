export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until the check passes or the time is up (then rethrows its last failure). */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 5_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(everyMs);
    }
  }
}

/** Waits for `p` at most `ms` (then goes on regardless); the timer does not outlive `p`, so jest can exit. */
export async function bounded(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}
