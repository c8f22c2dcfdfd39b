import type { ClusterEvent, Presence } from '@gateway/domain';

/** What the mirror reads from Redis when it does not know (or no longer trusts) what it holds. */
export interface MirrorSource {
  /** Each member's presence (null: no key) and the key's remaining time to live in ms. */
  presence(clusterId: string, memberIds: string[]): Promise<{ presence: Presence | null; ttlMs: number }[]>;
  version(clusterId: string): Promise<number>;
}

/** An absent presence key is believed this long: a member coming back says so at once, by event. */
const ABSENT_MS = 250;
/** A config version is read again after this long even when no event moved it (insurance, not the mechanism). */
const VERSION_MS = 5_000;
/** How far a member's clock may be behind this instance's before its heartbeats stop being believed. */
const SKEW_MS = 1_000;

type Entry = { presence: Presence | null; until: number };

/**
 * The API instance's copy of its clusters' presence and config versions, kept current by the events agents
 * and API instances publish (see ClusterEvent), so that routing a live query reads nothing from Redis.
 *
 * Only what is fresh is believed: a heartbeat for its time to live, an absence for a moment. Anything else
 * (never seen, expired, withdrawn) is read from Redis, exactly as without the mirror; so a member killed
 * without a word drops out when its presence would have expired in Redis, an agent that does not publish
 * events (older versions) is read as before, and an event loop that stalled past a time to live reads the truth.
 * While the subscription is down, events may be lost: the mirror then forgets everything and reads Redis
 * until it is attached again.
 */
export class ClusterMirror {
  private live = false;
  private readonly members = new Map<string, Map<string, Entry>>();
  private readonly versions = new Map<string, { version: number; until: number }>();

  constructor(
    private readonly source: MirrorSource,
    private readonly now: () => number = Date.now,
  ) {}

  /** The subscription is up: from now on events keep what is read current. */
  attach() {
    this.live = true;
  }

  /** The subscription dropped: forget everything, read Redis until attached again. */
  detach() {
    this.live = false;
    this.members.clear();
    this.versions.clear();
  }

  get attached() {
    return this.live;
  }

  onEvent(clusterId: string, e: ClusterEvent) {
    if (!this.live) return;
    if (e.t === 'version') {
      const known = this.versions.get(clusterId);
      this.versions.set(clusterId, { version: Math.max(known?.version ?? 0, e.version), until: this.now() + VERSION_MS });
    } else if (e.t === 'presence') {
      // From its arrival, but never much past when it was sent: an event handled late (this event loop stalled)
      // must not keep a member alive after its key has expired in Redis.
      const until = Math.min(this.now() + e.ttlMs, e.presence.at + e.ttlMs + SKEW_MS);
      this.cluster(clusterId).set(e.presence.memberId, { presence: e.presence, until });
    } else {
      this.cluster(clusterId).delete(e.memberId);
    }
  }

  /** What the mirror believes of a member right now, without reading Redis (undefined: it does not know). */
  peek(clusterId: string, memberId: string): Presence | null | undefined {
    const e = this.live ? this.members.get(clusterId)?.get(memberId) : undefined;
    return e && e.until > this.now() ? e.presence : undefined;
  }

  async presence(clusterId: string, memberIds: string[]): Promise<Map<string, Presence>> {
    const out = new Map<string, Presence>();
    const members = this.cluster(clusterId);
    const now = this.now();
    const unknown: string[] = [];
    for (const id of memberIds) {
      const e = this.live ? members.get(id) : undefined;
      if (!e || e.until <= now) unknown.push(id);
      else if (e.presence) out.set(id, e.presence);
    }
    if (unknown.length === 0) return out;
    const read = await this.source.presence(clusterId, unknown);
    const at = this.now();
    unknown.forEach((id, i) => {
      const { presence, ttlMs } = read[i];
      if (presence) out.set(id, presence);
      if (!this.live) return;
      // An event that came in while Redis was read is at least as new as what was read.
      const current = members.get(id);
      if (current && current.until > at) return;
      members.set(id, { presence, until: at + (presence ? Math.max(0, ttlMs) : ABSENT_MS) });
    });
    return out;
  }

  async version(clusterId: string): Promise<number> {
    const known = this.live ? this.versions.get(clusterId) : undefined;
    if (known && known.until > this.now()) return known.version;
    const version = await this.source.version(clusterId);
    if (this.live) {
      const current = this.versions.get(clusterId);
      this.versions.set(clusterId, { version: Math.max(current?.version ?? 0, version), until: this.now() + VERSION_MS });
    }
    return version;
  }

  private cluster(clusterId: string) {
    let m = this.members.get(clusterId);
    if (!m) {
      m = new Map();
      this.members.set(clusterId, m);
    }
    return m;
  }
}
