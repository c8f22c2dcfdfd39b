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

  it('never routes to a disabled or offline member', () => {
    fc.assert(
      fc.property(arbMembers, arbSettings, (members, settings) => {
        for (const s of route(members, settings).servers) {
          const m = members.find((x) => x.id === s.memberId)!;
          expect(m.enabled && m.online).toBe(true);
        }
      }),
    );
  });

  it('always has a server when any member is online and enabled', () => {
    fc.assert(
      fc.property(arbMembers, arbSettings, (members, settings) => {
        const any = members.some((m) => m.enabled && m.online);
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
        if (p && p.enabled && p.online && !overloaded(p)) expect(d.servers[0].memberId).toBe(p.id);
      }),
    );
  });
});
