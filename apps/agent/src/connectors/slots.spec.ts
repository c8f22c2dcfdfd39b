import { Slots } from './slots';

const tick = () => new Promise((r) => setImmediate(r));

describe('Slots', () => {
  it('lets `size` holders in and the others in arrival order as slots come free', async () => {
    const slots = new Slots(2);
    const order: number[] = [];
    const releases: (() => void)[] = [];
    const take = (n: number) => slots.acquire().then((release) => (order.push(n), releases.push(release)));
    [1, 2, 3, 4, 5].forEach((n) => void take(n));
    await tick();
    expect(order).toEqual([1, 2]);
    releases[0]();
    releases[0](); // twice is once
    await tick();
    expect(order).toEqual([1, 2, 3]);
    releases[1]();
    releases[2]();
    await tick();
    expect(order).toEqual([1, 2, 3, 4, 5]);
    releases[3]();
    releases[4]();
    // All free again: the next two get in at once, the third waits.
    [6, 7, 8].forEach((n) => void take(n));
    await tick();
    expect(order).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});
