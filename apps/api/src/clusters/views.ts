import type { ClusterView, MemberView } from '@gateway/domain';

/** Database rows to API views, in one place; nothing else in the row (keys, envelopes) leaves the API. */
export const toMemberView = (m: {
  id: string;
  clusterId: string;
  name: string;
  hostName: string;
  agentVersion: string;
  isPrimary: boolean;
  enabled: boolean;
  joinedAt: Date;
}): MemberView => ({
  id: m.id,
  clusterId: m.clusterId,
  name: m.name,
  hostName: m.hostName,
  agentVersion: m.agentVersion,
  primary: m.isPrimary,
  enabled: m.enabled,
  joinedAt: m.joinedAt.toISOString(),
});

export const toClusterView = (c: { id: string; name: string; description: string; contact: string; createdAt: Date; _count: { members: number } }): ClusterView => ({
  id: c.id,
  name: c.name,
  description: c.description,
  contact: c.contact,
  memberCount: c._count.members,
  createdAt: c.createdAt.toISOString(),
});
