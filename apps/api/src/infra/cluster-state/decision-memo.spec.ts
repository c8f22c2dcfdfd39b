import type { Presence, RoutingDecision } from '@gateway/domain';
import { DecisionMemo } from './decision-memo';
import type { MemberRow } from './cluster-state.service';

const row = (id: string, joinOrder: number, isPrimary = false): MemberRow => ({ id, name: id, isPrimary, enabled: true, joinOrder, drainRequestedAt: null });
const presence = (memberId: string, extra: Partial<Presence> = {}): Presence => ({ memberId, version: '1', cpu: 10, memory: 20, activeJobs: 0, at: Date.now(), ...extra });
const routing = { mode: 'primary' as const, cpuThreshold: 0, memoryThreshold: 0 };

describe('DecisionMemo', () => {
  const a = row('a', 1, true);
  const b = row('b', 2);
  let computed = 0;
  const decision = (): RoutingDecision => ({ servers: [{ memberId: `m${++computed}`, memberName: 'x', reason: 'primary' }], canServe: true });
  beforeEach(() => (computed = 0));

  it('reuses a decision while rows, settings, source and what routing reads of presence are the same', () => {
    const memo = new DecisionMemo();
    const sources = [{ id: 'ds', ok: true, at: 1 }];
    const first = memo.decide(routing, [a, b], new Map([['a', presence('a', { sources })], ['b', presence('b')]]), { id: 'ds', name: 'pg' }, decision);
    // Presence rebuilt (a new heartbeat with the same load, a new timestamp): the same decision.
    const again = memo.decide({ ...routing }, [a, b], new Map([['a', presence('a', { sources, at: 5, busy: 3 })], ['b', presence('b')]]), { id: 'ds', name: 'pg' }, decision);
    expect(again).toBe(first);
    expect(computed).toBe(1);
  });

  it('decides again when a member comes online, and not for presence of members it was not asked about', () => {
    const memo = new DecisionMemo();
    const first = memo.decide(routing, [a, b], new Map([['a', presence('a')]]), undefined, decision);
    expect(memo.decide(routing, [a, b], new Map([['a', presence('a')], ['c', presence('c')]]), undefined, decision)).toBe(first);
    expect(memo.decide(routing, [a, b], new Map([['a', presence('a')], ['b', presence('b')]]), undefined, decision)).not.toBe(first);
    expect(computed).toBe(2);
  });

  it.each([
    ['a member goes offline', () => [routing, [a, b], new Map([['b', presence('b')]]), undefined] as const],
    ['its CPU moves', () => [routing, [a, b], new Map([['a', presence('a', { cpu: 95 })], ['b', presence('b')]]), undefined] as const],
    ['its memory moves', () => [routing, [a, b], new Map([['a', presence('a', { memory: 95 })], ['b', presence('b')]]), undefined] as const],
    ['it drains', () => [routing, [a, b], new Map([['a', presence('a', { draining: true })], ['b', presence('b')]]), undefined] as const],
    ['it reports on its sources', () => [routing, [a, b], new Map([['a', presence('a', { sources: [{ id: 'ds', ok: false, at: 2 }] })], ['b', presence('b')]]), undefined] as const],
    ['the settings change', () => [{ ...routing, cpuThreshold: 80 }, [a, b], new Map([['a', presence('a')], ['b', presence('b')]]), undefined] as const],
    ['the mode changes', () => [{ ...routing, mode: 'distribute' as const }, [a, b], new Map([['a', presence('a')], ['b', presence('b')]]), undefined] as const],
    ['another source is asked for', () => [routing, [a, b], new Map([['a', presence('a')], ['b', presence('b')]]), { id: 'other', name: 'o' }] as const],
    ['a member row was replaced (disabled, made primary, drained)', () => [routing, [a, { ...b, enabled: false }], new Map([['a', presence('a')], ['b', presence('b')]]), undefined] as const],
    ['a member was excluded', () => [routing, [a], new Map([['a', presence('a')]]), undefined] as const],
  ])('decides again when %s', (_why, next) => {
    const memo = new DecisionMemo();
    const first = memo.decide(routing, [a, b], new Map([['a', presence('a')], ['b', presence('b')]]), undefined, decision);
    const [r, members, p, source] = next();
    const second = memo.decide(r, [...members], p, source, decision);
    expect(second).not.toBe(first);
    expect(computed).toBe(2);
  });
});
