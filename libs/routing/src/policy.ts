import type { MemberState, RoutingDecision, RoutingSettings, Server } from '@gateway/domain';

function overload(m: MemberState, s: RoutingSettings): string | null {
  if (s.cpuThreshold > 0 && m.cpu >= s.cpuThreshold) return `CPU ${Math.round(m.cpu)}% >= ${s.cpuThreshold}%`;
  if (s.memoryThreshold > 0 && m.memory >= s.memoryThreshold) return `memory ${Math.round(m.memory)}% >= ${s.memoryThreshold}%`;
  return null;
}

function whyNotPrimary(primary: MemberState | undefined, s: RoutingSettings): string {
  if (!primary) return 'the cluster has no primary';
  if (!primary.enabled) return `primary ${primary.name} is disabled`;
  if (!primary.online) return `primary ${primary.name} is offline`;
  const over = overload(primary, s);
  return over ? `primary ${primary.name} is overloaded (${over})` : `primary ${primary.name} cannot serve`;
}

/**
 * Who serves the cluster's work now, and why. The same function runs in the agents (should I consume?)
 * and in the API (who will serve? can anyone?), so both always agree given the same view.
 */
export function route(members: readonly MemberState[], settings: RoutingSettings): RoutingDecision {
  const candidates = members.filter((m) => m.enabled && m.online);
  if (candidates.length === 0) {
    const reason =
      members.length === 0
        ? 'the cluster has no members'
        : members.some((m) => m.online)
          ? 'every online member of the cluster is disabled'
          : 'no member of the cluster is online';
    return { servers: [], canServe: false, reason };
  }
  // Thresholds only steer work away from an overloaded member while someone else can take it.
  const relaxed = candidates.filter((m) => overload(m, settings) === null);
  const pool = (relaxed.length > 0 ? relaxed : candidates).slice().sort((a, b) => a.joinOrder - b.joinOrder);
  const allOverloaded = relaxed.length === 0;
  const note = allOverloaded ? '; every member is over a threshold, so none is skipped' : '';

  if (settings.mode === 'distribute') {
    const servers: Server[] = pool.map((m) => ({
      memberId: m.id,
      memberName: m.name,
      reason: `distribute: one of ${pool.length} online enabled member${pool.length === 1 ? '' : 's'}${note}`,
    }));
    return { servers, canServe: true };
  }

  const primary = members.find((m) => m.primary);
  const chosen = pool.find((m) => m.primary) ?? pool[0];
  const reason = chosen.primary
    ? `primary${note}`
    : `failover: ${whyNotPrimary(primary, settings)}; ${chosen.name} is the first online enabled member in join order${note}`;
  return { servers: [{ memberId: chosen.id, memberName: chosen.name, reason }], canServe: true };
}

/** True when the given member should take work now. */
export function serves(decision: RoutingDecision, memberId: string): boolean {
  return decision.servers.some((s) => s.memberId === memberId);
}
