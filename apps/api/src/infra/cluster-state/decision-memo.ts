import type { Presence, RoutedSource, RoutingDecision, RoutingSettings } from '@gateway/domain';

/** What of a member's presence routing reads (see ClusterStateService.memberStates). */
type RoutedPart = { cpu: number; memory: number; draining: boolean; sources: Presence['sources'] } | null;
const routedPart = (p: Presence | undefined): RoutedPart => (p ? { cpu: p.cpu, memory: p.memory, draining: !!p.draining, sources: p.sources } : null);

/** A member's row: what is compared is the object itself (a changed member is a new row). */
type Row = { id: string };

interface LastDecision {
  routing: RoutingSettings;
  members: Row[];
  seen: RoutedPart[];
  source: RoutedSource | undefined;
  decision: RoutingDecision;
}

/**
 * The last routing decision of each list of members, reused while nothing routing reads has changed: the same
 * member rows (a changed member is a new row), the same settings and source, and presence equal in what routing
 * reads of it. Presence moves with each heartbeat, a few times a second; live queries come much more often.
 */
export class DecisionMemo {
  /** Under the list's first member row, so a cluster whose rows were reloaded lets its old entry go. */
  private readonly last = new WeakMap<Row, LastDecision>();

  decide(routing: RoutingSettings, members: Row[], presence: Map<string, Presence>, source: RoutedSource | undefined, compute: () => RoutingDecision): RoutingDecision {
    const key = members[0];
    const last = key && this.last.get(key);
    if (last && same(last, routing, members, presence, source)) return last.decision;
    const decision = compute();
    if (key) this.last.set(key, { routing: { ...routing }, members: [...members], seen: members.map((m) => routedPart(presence.get(m.id))), source: source && { ...source }, decision });
    return decision;
  }
}

function same(last: LastDecision, routing: RoutingSettings, members: Row[], presence: Map<string, Presence>, source: RoutedSource | undefined): boolean {
  if (last.routing.mode !== routing.mode || last.routing.cpuThreshold !== routing.cpuThreshold || last.routing.memoryThreshold !== routing.memoryThreshold) return false;
  if (last.source?.id !== source?.id || last.source?.name !== source?.name) return false;
  if (last.members.length !== members.length) return false;
  for (let i = 0; i < members.length; i++) {
    if (last.members[i] !== members[i]) return false;
    const was = last.seen[i];
    const p = presence.get(members[i].id);
    if (!was || !p) {
      if (was || p) return false;
      continue;
    }
    // A member's list of source checks is replaced, never changed in place, when it reports on them.
    if (was.cpu !== p.cpu || was.memory !== p.memory || was.draining !== !!p.draining || was.sources !== p.sources) return false;
  }
  return true;
}
