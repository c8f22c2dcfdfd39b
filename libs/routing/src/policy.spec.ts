import fc from 'fast-check';
import { DEFAULT_ROUTING, type MemberState, type RoutingSettings } from '@gateway/domain';
import { route, serves } from './policy';

const member = (over: Partial<MemberState> & { id: string }): MemberState => ({
  name: over.id,
  primary: false,
  enabled: true,
  online: true,
  cpu: 10,
  memory: 10,
  joinOrder: 0,
  ...over,
});

const three = () => [
  member({ id: 'a', primary: true, joinOrder: 1 }),
  member({ id: 'b', joinOrder: 2 }),
  member({ id: 'c', joinOrder: 3 }),
];
const served = (members: MemberState[], s: RoutingSettings = DEFAULT_ROUTING) => route(members, s).servers.map((x) => x.memberId);

describe('primary mode', () => {
  it('routes to the primary when it is online and enabled', () => {
    const d = route(three(), DEFAULT_ROUTING);
    expect(d.servers).toEqual([{ memberId: 'a', memberName: 'a', reason: 'primary' }]);
  });

  it('fails over to the first online enabled member in join order when the primary is offline', () => {
    const m = three();
    m[0].online = false;
    const d = route(m, DEFAULT_ROUTING);
    expect(d.servers.map((s) => s.memberId)).toEqual(['b']);
    expect(d.servers[0].reason).toContain('primary a is offline');
  });

  it('fails over when the primary is disabled, and says so', () => {
    const m = three();
    m[0].enabled = false;
    expect(route(m, DEFAULT_ROUTING).servers[0].reason).toContain('primary a is disabled');
  });

  it('follows join order, not array order', () => {
    const m = [member({ id: 'late', joinOrder: 9 }), member({ id: 'early', joinOrder: 2 }), member({ id: 'p', primary: true, online: false, joinOrder: 1 })];
    expect(served(m)).toEqual(['early']);
  });

  it('skips an overloaded primary while another member can serve', () => {
    const m = three();
    m[0].cpu = 95;
    const d = route(m, { mode: 'primary', cpuThreshold: 90, memoryThreshold: 0 });
    expect(d.servers.map((s) => s.memberId)).toEqual(['b']);
    expect(d.servers[0].reason).toContain('overloaded (CPU 95% >= 90%)');
  });

  it('skips on memory too', () => {
    const m = three();
    m[0].memory = 81;
    expect(served(m, { mode: 'primary', cpuThreshold: 0, memoryThreshold: 80 })).toEqual(['b']);
  });

  it('ignores thresholds of 0 (off)', () => {
    const m = three();
    m[0].cpu = 100;
    m[0].memory = 100;
    expect(served(m)).toEqual(['a']);
  });

  it('keeps serving when every member is overloaded rather than refusing work', () => {
    const m = three().map((x) => ({ ...x, cpu: 99 }));
    const d = route(m, { mode: 'primary', cpuThreshold: 50, memoryThreshold: 0 });
    expect(d.servers.map((s) => s.memberId)).toEqual(['a']);
    expect(d.servers[0].reason).toContain('none is skipped');
  });
});

describe('distribute mode', () => {
  const distribute: RoutingSettings = { mode: 'distribute', cpuThreshold: 0, memoryThreshold: 0 };

  it('serves from every online enabled member', () => {
    const m = three();
    m[1].enabled = false;
    expect(served(m, distribute)).toEqual(['a', 'c']);
  });

  it('drops overloaded members while others can serve', () => {
    const m = three();
    m[2].memory = 90;
    expect(served(m, { ...distribute, memoryThreshold: 85 })).toEqual(['a', 'b']);
  });
});

describe('nobody can serve', () => {
  it.each([
    ['no members', [], 'the cluster has no members'],
    ['all offline', three().map((m) => ({ ...m, online: false })), 'no member of the cluster is online'],
    ['online ones disabled', three().map((m) => ({ ...m, enabled: false })), 'every online member of the cluster is disabled'],
  ])('says why when %s', (_label, members, reason) => {
    const d = route(members as MemberState[], DEFAULT_ROUTING);
    expect(d).toEqual({ servers: [], canServe: false, reason });
  });
});

describe('draining', () => {
  it('passes over a draining primary, and says so', () => {
    const m = three();
    m[0].draining = true;
    const d = route(m, DEFAULT_ROUTING);
    expect(d.servers.map((s) => s.memberId)).toEqual(['b']);
    expect(d.servers[0].reason).toBe('failover: primary a is draining; b is the first online enabled member in join order');
  });

  it('serves nobody when every online enabled member is draining', () => {
    const m = three().map((x) => ({ ...x, draining: true }));
    expect(route(m, DEFAULT_ROUTING)).toEqual({ servers: [], canServe: false, reason: 'every online enabled member of the cluster is draining' });
    expect(route(m, { mode: 'distribute', cpuThreshold: 0, memoryThreshold: 0 }).canServe).toBe(false);
  });
});

describe('data source health', () => {
  const sales = { id: 's1', name: 'sales-db' };
  const refused = { s1: { ok: false, error: 'connection refused' } };

  it('skips a primary that cannot reach the source while another can, and says so; other sources stay on the primary', () => {
    const m = three();
    m[0].sources = { ...refused, s2: { ok: true } };
    const d = route(m, DEFAULT_ROUTING, sales);
    expect(d.servers).toEqual([{ memberId: 'b', memberName: 'b', reason: 'failover: a cannot reach sales-db: connection refused; b serves' }]);
    expect(served(m)).toEqual(['a']);
    expect(route(m, DEFAULT_ROUTING, { id: 's2', name: 'other' }).servers.map((s) => s.memberId)).toEqual(['a']);
  });

  it('gives a member that has not checked the source yet the benefit of the doubt', () => {
    const m = three();
    m[1].sources = { s9: { ok: false } };
    expect(route(m, DEFAULT_ROUTING, sales).servers.map((s) => s.memberId)).toEqual(['a']);
  });

  it('names the unreachable members when the primary is skipped for another reason', () => {
    const m = three();
    m[0].online = false;
    m[1].sources = refused;
    const d = route(m, DEFAULT_ROUTING, sales);
    expect(d.servers.map((s) => s.memberId)).toEqual(['c']);
    expect(d.servers[0].reason).toBe('failover: primary a is offline; c is the first online enabled member in join order (b cannot reach sales-db: connection refused)');
  });

  it('in distribute mode, serves from the members that can reach it', () => {
    const m = three();
    m[2].sources = refused;
    const d = route(m, { mode: 'distribute', cpuThreshold: 0, memoryThreshold: 0 }, sales);
    expect(d.servers.map((s) => s.memberId)).toEqual(['a', 'b']);
    expect(d.servers[0].reason).toContain('c cannot reach sales-db: connection refused');
  });

  it('serves nobody when no online member can reach it, naming the source and what each member found', () => {
    const m = three();
    m[0].sources = refused;
    m[1].sources = { s1: { ok: false, error: 'timeout after 5000 ms' } };
    m[2].online = false;
    expect(route(m, DEFAULT_ROUTING, sales)).toEqual({
      servers: [],
      canServe: false,
      reason: 'no online member can reach data source "sales-db" (a: connection refused; b: timeout after 5000 ms)',
    });
  });

  it('prefers reachability over load: an overloaded member that can reach the source serves before one that cannot', () => {
    const m = three().slice(0, 2);
    m[0].sources = refused;
    m[1].cpu = 99;
    expect(route(m, { mode: 'primary', cpuThreshold: 50, memoryThreshold: 0 }, sales).servers.map((s) => s.memberId)).toEqual(['b']);
  });
});

describe('serves()', () => {
  it('answers for one member', () => {
    const d = route(three(), DEFAULT_ROUTING);
    expect(serves(d, 'a')).toBe(true);
    expect(serves(d, 'b')).toBe(false);
  });
});

describe('properties', () => {
  const arbMembers = fc
    .uniqueArray(
      fc.record({
        id: fc.string({ minLength: 1, maxLength: 6 }),
        primary: fc.boolean(),
        enabled: fc.boolean(),
        online: fc.boolean(),
        draining: fc.boolean(),
        cpu: fc.integer({ min: 0, max: 100 }),
        memory: fc.integer({ min: 0, max: 100 }),
        joinOrder: fc.integer({ min: 0, max: 1000 }),
      }),
      { selector: (m) => m.id, maxLength: 8 },
    )
    .map((ms) => {
      // at most one primary, as the database guarantees
      let seen = false;
      return ms.map((m) => {
        const primary = m.primary && !seen;
        seen ||= primary;
        return { ...m, name: m.id, primary };
      });
    });
  const arbSettings = fc.record({
    mode: fc.constantFrom('primary' as const, 'distribute' as const),
    cpuThreshold: fc.integer({ min: 0, max: 100 }),
    memoryThreshold: fc.integer({ min: 0, max: 100 }),
  });

  it('never routes to a member that cannot reach the source while another online enabled member can', () => {
    const arbReach = fc.array(fc.boolean(), { minLength: 8, maxLength: 8 });
    fc.assert(
      fc.property(arbMembers, arbSettings, arbReach, (members, settings, reach) => {
        const withHealth = members.map((m, i) => ({ ...m, sources: { s: { ok: reach[i] } } }));
        const d = route(withHealth, settings, { id: 's', name: 's' });
        const able = withHealth.filter((m) => m.enabled && m.online && !m.draining && m.sources.s.ok);
        if (able.length === 0) expect(d.canServe).toBe(false);
        for (const s of d.servers) expect(able.map((m) => m.id)).toContain(s.memberId);
      }),
    );
  });

  it('never routes to a disabled, offline or draining member', () => {
    fc.assert(
      fc.property(arbMembers, arbSettings, (members, settings) => {
        for (const s of route(members, settings).servers) {
          const m = members.find((x) => x.id === s.memberId)!;
          expect(m.enabled && m.online && !m.draining).toBe(true);
        }
      }),
    );
  });

  it('always has a server when any member is online, enabled and not draining', () => {
    fc.assert(
      fc.property(arbMembers, arbSettings, (members, settings) => {
        const any = members.some((m) => m.enabled && m.online && !m.draining);
        const d = route(members, settings);
        expect(d.canServe).toBe(any);
        expect(d.servers.length > 0).toBe(any);
      }),
    );
  });

  it('picks exactly one server in primary mode, the primary whenever it is eligible and not overloaded', () => {
    fc.assert(
      fc.property(arbMembers, arbSettings, (members, settings) => {
        const d = route(members, { ...settings, mode: 'primary' });
        if (!d.canServe) return;
        expect(d.servers).toHaveLength(1);
        const p = members.find((m) => m.primary);
        const overloaded = (m: MemberState) =>
          (settings.cpuThreshold > 0 && m.cpu >= settings.cpuThreshold) ||
          (settings.memoryThreshold > 0 && m.memory >= settings.memoryThreshold);
        if (p && p.enabled && p.online && !p.draining && !overloaded(p)) expect(d.servers[0].memberId).toBe(p.id);
      }),
    );
  });
});
