import { MemberLoad } from './member-load';

let t = 1_000;
const now = () => t;

describe('MemberLoad', () => {
  beforeEach(() => (t = 1_000));

  it('counts what this instance has in flight when the member has not reported', () => {
    const l = new MemberLoad(now);
    const a = l.begin('m');
    l.begin('m');
    expect(l.load('m')).toBe(2);
    l.end(a);
    expect(l.load('m')).toBe(1);
    expect(l.load('other')).toBe(0);
  });

  it('does not hold a finished query of its own against a member that reported while it ran', () => {
    const l = new MemberLoad(now);
    const q = l.begin('m');
    t += 5;
    const report = { busy: 1, reportedAt: t }; // sampled while q ran there
    t += 5;
    l.end(q);
    // Without the discount the member would look busy (1) until its next heartbeat.
    expect(l.load('m', report)).toBe(0);
  });

  it("keeps the other instances' work of a report, and adds this instance's work sent since", () => {
    const l = new MemberLoad(now);
    const mine = l.begin('m');
    t += 5;
    const report = { busy: 3, reportedAt: t }; // mine and two queries of other instances
    expect(l.load('m', report)).toBe(3);
    t += 5;
    l.begin('m'); // after the report: not in it
    expect(l.load('m', report)).toBe(4);
    l.end(mine);
    expect(l.load('m', report)).toBe(3);
  });

  it('counts work that ended before the report as not in it', () => {
    const l = new MemberLoad(now);
    const q = l.begin('m');
    t += 5;
    l.end(q);
    t += 5;
    const report = { busy: 1, reportedAt: t }; // another instance's query
    expect(l.load('m', report)).toBe(1);
  });

  it('never goes below what this instance has in flight', () => {
    const l = new MemberLoad(now);
    l.begin('m');
    l.begin('m');
    t += 5;
    expect(l.load('m', { busy: 1, reportedAt: t })).toBe(2); // one of them not seen by the member yet
    expect(l.load('m', { busy: 0, reportedAt: t })).toBe(2);
  });

  it('ignores the end of work it never began or already ended', () => {
    const l = new MemberLoad(now);
    const q = l.begin('m');
    l.end(q);
    l.end(q);
    expect(l.inflight('m')).toBe(0);
    expect(l.load('m', { busy: 2, reportedAt: t - 1 })).toBe(2);
  });

  it('keeps a bounded record of ended work when no report asks for it (primary mode)', () => {
    const l = new MemberLoad(now);
    const kept = () => (l as unknown as { ended: Map<string, unknown[]> }).ended.get('m')?.length ?? 0;
    for (let i = 0; i < 10_000; i++) {
      l.end(l.begin('m'));
      expect(kept()).toBeLessThanOrEqual(4096);
    }
    expect(kept()).toBeGreaterThan(0);
    t += 5;
    expect(l.load('m', { busy: 1, reportedAt: t })).toBe(1); // all ended before the report: another instance's
    expect(kept()).toBe(0);
  });
});
