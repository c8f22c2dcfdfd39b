import type { Presence } from '@gateway/domain';
import { ClusterMirror, type MirrorSource } from './cluster-mirror';

let t = 1_000;
const now = () => t;
/** A heartbeat sent now. */
const p = (memberId: string, extra: Partial<Presence> = {}): Presence => ({ memberId, version: '1', cpu: 1, memory: 2, activeJobs: 0, at: t, ...extra });

/** Redis as the mirror reads it, counting the reads. */
function fakeRedis() {
  const state = { presence: new Map<string, { presence: Presence; ttlMs: number }>(), version: 1, reads: 0, versionReads: 0 };
  const source: MirrorSource = {
    async presence(_cluster, ids) {
      state.reads += 1;
      return ids.map((id) => state.presence.get(id) ?? { presence: null, ttlMs: -2 });
    },
    async version() {
      state.versionReads += 1;
      return state.version;
    },
  };
  return { state, source };
}

describe('ClusterMirror', () => {
  beforeEach(() => (t = 1_000));

  it('reads Redis while detached, and believes nothing it would have to keep current', async () => {
    const { state, source } = fakeRedis();
    const m = new ClusterMirror(source, now);
    state.presence.set('a', { presence: p('a'), ttlMs: 1_000 });
    expect([...(await m.presence('c', ['a', 'b'])).keys()]).toEqual(['a']);
    expect([...(await m.presence('c', ['a', 'b'])).keys()]).toEqual(['a']);
    expect(state.reads).toBe(2);
    m.onEvent('c', { t: 'presence', presence: p('b'), ttlMs: 1_000 }); // ignored: not attached
    expect([...(await m.presence('c', ['b'])).keys()]).toEqual([]);
  });

  it('once attached, answers from heartbeat events without reading Redis, until they expire', async () => {
    const { state, source } = fakeRedis();
    const m = new ClusterMirror(source, now);
    m.attach();
    m.onEvent('c', { t: 'presence', presence: p('a', { cpu: 50 }), ttlMs: 1_200 });
    m.onEvent('c', { t: 'presence', presence: p('b'), ttlMs: 1_200 });
    const seen = await m.presence('c', ['a', 'b']);
    expect(seen.get('a')?.cpu).toBe(50);
    expect(seen.has('b')).toBe(true);
    expect(state.reads).toBe(0);
    // a keeps beating, b was killed: after b's time to live the mirror asks Redis, where b has expired too.
    t += 1_000;
    m.onEvent('c', { t: 'presence', presence: p('a', { cpu: 60 }), ttlMs: 1_200 });
    t += 300;
    const later = await m.presence('c', ['a', 'b']);
    expect(later.get('a')?.cpu).toBe(60);
    expect(later.has('b')).toBe(false);
    expect(state.reads).toBe(1);
    // The absence is believed for a moment only.
    await m.presence('c', ['b']);
    expect(state.reads).toBe(1);
    t += 300;
    await m.presence('c', ['b']);
    expect(state.reads).toBe(2);
  });

  it('reads a member it has no event from (an older agent) again whenever what it read expires', async () => {
    const { state, source } = fakeRedis();
    const m = new ClusterMirror(source, now);
    m.attach();
    state.presence.set('old', { presence: p('old'), ttlMs: 800 });
    expect((await m.presence('c', ['old'])).has('old')).toBe(true);
    t += 500;
    expect((await m.presence('c', ['old'])).has('old')).toBe(true);
    expect(state.reads).toBe(1);
    t += 400; // past the 800 ms the key had left: read again, and still there (the agent refreshed it)
    state.presence.set('old', { presence: p('old', { cpu: 9 }), ttlMs: 1_200 });
    expect((await m.presence('c', ['old'])).get('old')?.cpu).toBe(9);
    expect(state.reads).toBe(2);
  });

  it('does not believe a heartbeat handled long after it was sent (this event loop stalled) past its time', async () => {
    const { state, source } = fakeRedis();
    const m = new ClusterMirror(source, now);
    m.attach();
    const sent = p('a');
    t += 3_000; // handled 3 s late (more than its time to live and the clock allowance); the member died meanwhile
    m.onEvent('c', { t: 'presence', presence: sent, ttlMs: 1_200 });
    expect((await m.presence('c', ['a'])).has('a')).toBe(false);
    expect(state.reads).toBe(1);
  });

  it('takes a withdrawal at once and reads Redis for that member', async () => {
    const { state, source } = fakeRedis();
    const m = new ClusterMirror(source, now);
    m.attach();
    m.onEvent('c', { t: 'presence', presence: p('a'), ttlMs: 1_200 });
    m.onEvent('c', { t: 'gone', memberId: 'a' });
    expect((await m.presence('c', ['a'])).has('a')).toBe(false);
    expect(state.reads).toBe(1);
  });

  it('keeps an event that arrived while Redis was being read over the older read', async () => {
    const { state, source } = fakeRedis();
    let release!: () => void;
    const slow: MirrorSource = {
      ...source,
      presence: async (c, ids) => {
        const r = await source.presence(c, ids);
        await new Promise<void>((resolve) => (release = resolve));
        return r;
      },
    };
    const m = new ClusterMirror(slow, now);
    m.attach();
    const pending = m.presence('c', ['a']); // reads: a absent
    await new Promise((r) => setImmediate(r));
    m.onEvent('c', { t: 'presence', presence: p('a'), ttlMs: 1_200 });
    release();
    expect((await pending).has('a')).toBe(false); // what was read
    expect((await m.presence('c', ['a'])).has('a')).toBe(true); // the event stands
    expect(state.reads).toBe(1);
  });

  it('forgets everything when detached, so lost events cannot leave it wrong', async () => {
    const { state, source } = fakeRedis();
    const m = new ClusterMirror(source, now);
    m.attach();
    m.onEvent('c', { t: 'presence', presence: p('a'), ttlMs: 60_000 });
    m.onEvent('c', { t: 'version', version: 7 });
    m.detach();
    m.attach();
    expect((await m.presence('c', ['a'])).has('a')).toBe(false);
    expect(await m.version('c')).toBe(1);
    expect(state.reads).toBe(1);
    expect(state.versionReads).toBe(1);
  });

  it('follows config versions from events, never moving back, and reads Redis again after a while', async () => {
    const { state, source } = fakeRedis();
    const m = new ClusterMirror(source, now);
    m.attach();
    expect(await m.version('c')).toBe(1);
    m.onEvent('c', { t: 'version', version: 3 });
    m.onEvent('c', { t: 'version', version: 2 }); // late and out of order
    expect(await m.version('c')).toBe(3);
    expect(state.versionReads).toBe(1);
    state.version = 4;
    t += 5_001;
    expect(await m.version('c')).toBe(4);
    expect(state.versionReads).toBe(2);
  });
});
