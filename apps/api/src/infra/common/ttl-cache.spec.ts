import { TtlCache } from './ttl-cache';

describe('TtlCache', () => {
  afterEach(() => jest.useRealTimers());

  it('forgets entries after their time to live', () => {
    jest.useFakeTimers({ now: 1_000 });
    const c = new TtlCache<number>(100);
    c.set('a', 1);
    expect(c.get('a')).toBe(1);
    jest.setSystemTime(1_101);
    expect(c.get('a')).toBeUndefined();
  });

  it('drops the oldest entry beyond its size bound', () => {
    const c = new TtlCache<number>(10_000, 2);
    c.set('a', 1);
    c.set('b', 2);
    c.set('c', 3);
    expect([c.get('a'), c.get('b'), c.get('c')]).toEqual([undefined, 2, 3]);
  });

  it('deletes on demand', () => {
    const c = new TtlCache<number>(10_000);
    c.set('a', 1);
    c.delete('a');
    expect(c.get('a')).toBeUndefined();
  });
});
