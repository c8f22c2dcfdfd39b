import type { ClusterView, MemberView, RoutingSettings } from '@gateway/domain';

/** Database rows to API views, in one place; nothing else in the row (keys, envelopes) leaves the API. */
export const toMemberView = (m: {
  id: string;
  clusterId: string;
  name: string;
  description: string;
  hostName: string;
  agentVersion: string;
  isPrimary: boolean;
  enabled: boolean;
  drainRequestedAt?: Date | null;
  joinedAt: Date;
}): MemberView => ({
  id: m.id,
  clusterId: m.clusterId,
  name: m.name,
  description: m.description,
  hostName: m.hostName,
  agentVersion: m.agentVersion,
  primary: m.isPrimary,
  enabled: m.enabled,
  drainRequestedAt: m.drainRequestedAt?.toISOString() ?? null,
  joinedAt: m.joinedAt.toISOString(),
});

export interface ClusterRow {
  id: string;
  name: string;
  description: string;
  contact: string;
  routingMode: string;
  cpuThreshold: number;
  memoryThreshold: number;
  createdAt: Date;
}

export const routingOf = (c: Pick<ClusterRow, 'routingMode' | 'cpuThreshold' | 'memoryThreshold'>): RoutingSettings => ({
  mode: c.routingMode === 'distribute' ? 'distribute' : 'primary',
  cpuThreshold: c.cpuThreshold,
  memoryThreshold: c.memoryThreshold,
});

export const toClusterView = (c: ClusterRow & { memberCount: number; onlineCount: number; presenceKnown: boolean; role: 'admin' | 'user' }): ClusterView => ({
  id: c.id,
  name: c.name,
  description: c.description,
  contact: c.contact,
  memberCount: c.memberCount,
  onlineCount: c.onlineCount,
  presenceKnown: c.presenceKnown,
  role: c.role,
  routing: routingOf(c),
  createdAt: c.createdAt.toISOString(),
});
