import { Periodic } from './periodic';

describe('Periodic', () => {
  it('never runs the task twice at once', async () => {
    let active = 0;
    let most = 0;
    let release!: () => void;
    const p = new Periodic(1_000, async () => {
      active += 1;
      most = Math.max(most, active);
      await new Promise<void>((r) => (release = r));
      active -= 1;
    }, () => undefined);
    const first = p.runOnce();
    await p.runOnce(); // skipped: the first is still running
    release();
    await first;
    expect(most).toBe(1);
  });

  it('reports a failed run and keeps going', async () => {
    const errors: string[] = [];
    let calls = 0;
    const p = new Periodic(1_000, async () => {
      calls += 1;
      if (calls === 1) throw new Error('boom');
    }, (e) => errors.push(e.message));
    await p.runOnce();
    await p.runOnce();
    expect(errors).toEqual(['boom']);
    expect(calls).toBe(2);
  });
});
