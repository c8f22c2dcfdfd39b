import type { MemberState, RoutedSource, RoutingDecision, RoutingSettings, Server } from '@gateway/domain';

function overload(m: MemberState, s: RoutingSettings): string | null {
  if (s.cpuThreshold > 0 && m.cpu >= s.cpuThreshold) return `CPU ${Math.round(m.cpu)}% >= ${s.cpuThreshold}%`;
  if (s.memoryThreshold > 0 && m.memory >= s.memoryThreshold) return `memory ${Math.round(m.memory)}% >= ${s.memoryThreshold}%`;
  return null;
}

function whyNotPrimary(primary: MemberState | undefined, s: RoutingSettings): string {
  if (!primary) return 'the cluster has no primary';
  if (!primary.enabled) return `primary ${primary.name} is disabled`;
  if (!primary.online) return `primary ${primary.name} is offline`;
  if (primary.draining) return `primary ${primary.name} is draining`;
  const over = overload(primary, s);
  return over ? `primary ${primary.name} is overloaded (${over})` : `primary ${primary.name} cannot serve`;
}

/** Why a member cannot reach the source, when it said so at its last check; null when it can or has not checked. */
function unreachable(m: MemberState, source: RoutedSource | undefined): string | null {
  const health = source ? m.sources?.[source.id] : undefined;
  return health && !health.ok ? health.error || 'unreachable' : null;
}

/**
 * Who serves the cluster's work now, and why. The same function runs in the agents (should I consume?)
 * and in the API (who will serve? can anyone?), so both always agree given the same view.
 *
 * With a data source, members that found at their last check that they cannot reach it are skipped while another
 * can (one that has not checked yet is given the benefit of the doubt); when none can, nobody serves and the
 * reason names the source and what each member found.
 */
export function route(members: readonly MemberState[], settings: RoutingSettings, source?: RoutedSource): RoutingDecision {
  const up = members.filter((m) => m.enabled && m.online && !m.draining);
  if (up.length === 0) {
    const online = members.filter((m) => m.online);
    const reason =
      members.length === 0
        ? 'the cluster has no members'
        : online.length === 0
          ? 'no member of the cluster is online'
          : online.some((m) => m.enabled)
            ? 'every online enabled member of the cluster is draining'
            : 'every online member of the cluster is disabled';
    return { servers: [], canServe: false, reason };
  }
  const candidates = up.filter((m) => unreachable(m, source) === null);
  if (candidates.length === 0) {
    const found = up.map((m) => `${m.name}: ${unreachable(m, source)}`).join('; ');
    return { servers: [], canServe: false, reason: `no online member can reach data source "${source!.name}" (${found})` };
  }
  const cut = up.filter((m) => !candidates.includes(m)).sort((a, b) => a.joinOrder - b.joinOrder);
  const cutNote = cut.map((m) => `${m.name} cannot reach ${source!.name}: ${unreachable(m, source)}`).join('; ');
  // Thresholds only steer work away from an overloaded member while someone else can take it.
  const relaxed = candidates.filter((m) => overload(m, settings) === null);
  const pool = (relaxed.length > 0 ? relaxed : candidates).slice().sort((a, b) => a.joinOrder - b.joinOrder);
  const allOverloaded = relaxed.length === 0;
  const note = allOverloaded ? '; every member is over a threshold, so none is skipped' : '';

  if (settings.mode === 'distribute') {
    const servers: Server[] = pool.map((m) => ({
      memberId: m.id,
      memberName: m.name,
      reason: `distribute: one of ${pool.length} online enabled member${pool.length === 1 ? '' : 's'}${cut.length ? ` that can reach ${source!.name} (${cutNote})` : ''}${note}`,
    }));
    return { servers, canServe: true };
  }

  const primary = members.find((m) => m.primary);
  const chosen = pool.find((m) => m.primary) ?? pool[0];
  let reason: string;
  if (chosen.primary) reason = `primary${note}`;
  else if (primary && cut.includes(primary)) reason = `failover: ${cutNote}; ${chosen.name} serves${note}`;
  else reason = `failover: ${whyNotPrimary(primary, settings)}; ${chosen.name} is the first online enabled member in join order${cut.length ? ` (${cutNote})` : ''}${note}`;
  return { servers: [{ memberId: chosen.id, memberName: chosen.name, reason }], canServe: true };
}

/** True when the given member should take work now. */
export function serves(decision: RoutingDecision, memberId: string): boolean {
  return decision.servers.some((s) => s.memberId === memberId);
}
