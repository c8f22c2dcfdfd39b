import { z } from 'zod';
import { Base64, Id, Name, PemPublicKey } from './common';
import { KeyEnvelope } from './crypto/envelopes';
import { RoutingSettings } from './routing';

export const MIN_RECOVERY_KEY_LENGTH = 8;

export const MemberRegistration = z
  .object({
    name: Name,
    hostName: z.string().trim().min(1).max(255),
    agentVersion: z.string().trim().min(1).max(50),
    publicKey: PemPublicKey,
  })
  .strict();
export type MemberRegistration = z.infer<typeof MemberRegistration>;

export const CreateClusterRequest = z
  .object({
    name: Name,
    description: z.string().max(1000).optional(),
    contact: z.string().max(254).optional(),
    publicKey: PemPublicKey,
    keyEnvelope: KeyEnvelope,
    member: MemberRegistration,
  })
  .strict();
export type CreateClusterRequest = z.infer<typeof CreateClusterRequest>;

export const Installed = z.object({ clusterId: z.string(), clusterName: z.string(), memberId: z.string() });
export type Installed = z.infer<typeof Installed>;

/** A cluster may be named by id or by its unique name wherever a person types it. */
export const ClusterRef = z.string().trim().min(1, { error: 'must name a cluster by id or name' }).max(100);

export const JoinStartRequest = z.object({ cluster: ClusterRef }).strict();
export const JoinChallenge = z.object({
  challengeId: z.string(),
  nonce: z.string(),
  clusterId: z.string(),
  clusterName: z.string(),
  publicKey: z.string(),
  keyEnvelope: KeyEnvelope,
});
export type JoinChallenge = z.infer<typeof JoinChallenge>;

export const JoinCompleteRequest = z
  .object({ challengeId: Id, signature: Base64, member: MemberRegistration })
  .strict();
export type JoinCompleteRequest = z.infer<typeof JoinCompleteRequest>;

export const MemberView = z.object({
  id: z.string(),
  clusterId: z.string(),
  name: z.string(),
  description: z.string(),
  hostName: z.string(),
  agentVersion: z.string(),
  primary: z.boolean(),
  enabled: z.boolean(),
  /** When an admin drained it (it takes no new work until resumed), or null. */
  drainRequestedAt: z.string().nullable(),
  joinedAt: z.string(),
});
export type MemberView = z.infer<typeof MemberView>;

export const ClusterView = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  contact: z.string(),
  memberCount: z.number().int(),
  /** Members online; while presence is unknown (the control plane's Redis is down), those known to be. */
  onlineCount: z.number().int(),
  /** False while the control plane cannot read presence (its Redis is down): online counts only what it knows first-hand. */
  presenceKnown: z.boolean(),
  /** The caller's role on this cluster. */
  role: z.enum(['admin', 'user']),
  routing: RoutingSettings,
  createdAt: z.string(),
});
export type ClusterView = z.infer<typeof ClusterView>;

/** What the messages signed for proofs of possession look like; the prefix keeps one proof from passing as another. */
export const joinProofMessage = (clusterId: string, nonce: string) => `gateway-join:v1:${clusterId}:${nonce}`;
/**
 * What a host signs with the cluster private key to replace the cluster's key envelope (a new recovery key): it proves
 * it holds the key, for exactly this envelope (its ciphertext and tag) of this cluster.
 */
export const rotateRecoveryKeyMessage = (clusterId: string, envelope: { iv: string; tag: string; ciphertext: string }) =>
  `gateway-rotate-recovery-key:v1:${clusterId}:${envelope.iv}:${envelope.tag}:${envelope.ciphertext}`;

/** What a member host needs to rotate the cluster key: every sealed credential and every member's box key. */
export const KeyRotationContext = z.object({
  generation: z.number().int(),
  publicKey: z.string(),
  keyEnvelope: KeyEnvelope,
  dataSources: z.array(z.object({ id: z.string(), name: z.string(), version: z.string(), credentials: z.unknown().nullable() })),
  members: z.array(z.object({ id: z.string(), name: z.string(), boxKey: z.string().nullable() })),
});
export type KeyRotationContext = z.infer<typeof KeyRotationContext>;

/**
 * A new cluster key pair, made on a member host: the new public key and envelope (sealed under the recovery key),
 * every data source credential sealed again to the new key, and the new private key sealed to each member's box key.
 * Signed with the current cluster key (rotateKeyMessage), for `generation`, the one it was made from.
 */
export const RotateKeyRequest = z
  .object({
    generation: z.number().int(),
    publicKey: PemPublicKey,
    keyEnvelope: KeyEnvelope,
    credentials: z.array(z.object({ dataSourceId: z.string(), version: z.string(), credentials: z.unknown().nullable() })).max(10_000),
    memberKeys: z.array(z.object({ memberId: z.string(), box: z.unknown() })).max(1_000),
    signature: Base64,
  })
  .strict();
export type RotateKeyRequest = z.infer<typeof RotateKeyRequest>;

/** What the current cluster key signs to rotate it: the generation and a digest of everything else in the request. */
export const rotateKeyMessage = (clusterId: string, generation: number, digest: string) => `gateway-rotate-key:v1:${clusterId}:${generation}:${digest}`;

/** A new key envelope: the same cluster private key sealed under a new recovery key, on a member host. */
export const RotateRecoveryKeyRequest = z.object({ keyEnvelope: KeyEnvelope, signature: Base64 }).strict();
export type RotateRecoveryKeyRequest = z.infer<typeof RotateRecoveryKeyRequest>;
export const memberAuthMessage = (memberId: string, nonce: string) => `gateway-member-auth:v1:${memberId}:${nonce}`;

export const AgentChallengeRequest = z.object({ memberId: Id }).strict();
export const AgentChallenge = z.object({ challengeId: z.string(), nonce: z.string() });
export const AgentTokenRequest = z.object({ challengeId: Id, signature: Base64 }).strict();
export const AgentToken = z.object({ token: z.string(), expiresAt: z.string(), memberId: z.string(), clusterId: z.string() });
export type AgentToken = z.infer<typeof AgentToken>;

export const AgentSelf = z.object({ member: MemberView, cluster: z.object({ id: z.string(), name: z.string() }) });
export type AgentSelf = z.infer<typeof AgentSelf>;

export const UpdateMemberRequest = z
  .object({ enabled: z.boolean().optional(), name: Name.optional(), description: z.string().max(1000).optional() })
  .strict();
export type UpdateMemberRequest = z.infer<typeof UpdateMemberRequest>;

/** The member's view of its cluster (its WebSocket gets the same as MemberSettings); no datastore address or credential. */
export const AgentConfigView = z.object({
  member: MemberView,
  cluster: z.object({ id: z.string(), name: z.string(), routing: z.object({ mode: z.enum(['primary', 'distribute']), cpuThreshold: z.number(), memoryThreshold: z.number() }) }),
  members: z.array(z.object({ id: z.string(), name: z.string(), primary: z.boolean(), enabled: z.boolean(), joinOrder: z.number() })),
  configVersion: z.number(),
  heartbeatMs: z.number(),
  presenceTtlMs: z.number(),
});
export type AgentConfigView = z.infer<typeof AgentConfigView>;

export const UpdateClusterRequest = z
  .object({
    name: Name.optional(),
    description: z.string().max(1000).optional(),
    contact: z.string().max(254).optional(),
    routing: RoutingSettings.partial().strict().optional(),
  })
  .strict();
export type UpdateClusterRequest = z.infer<typeof UpdateClusterRequest>;


/** A member with its live status, as admins see it. */
export const MemberStatusView = MemberView.extend({
  online: z.boolean(),
  /** False while the control plane cannot read presence: `online: false` then means "not known to be online". */
  presenceKnown: z.boolean(),
  /** Taking no new work and still finishing some: drained by an admin, or its agent shutting down. */
  draining: z.boolean(),
  /** Drained by an admin and running nothing any more: it may be stopped and upgraded. */
  drained: z.boolean(),
  lastHeartbeat: z.string().nullable(),
  cpu: z.number().nullable(),
  memory: z.number().nullable(),
  activeJobs: z.number().int().nullable(),
  version: z.string().nullable(),
  /** The member protocol version its connection speaks (null while offline). */
  protocol: z.number().int().nullable(),
  /** Its agent version against the control plane's: outdated is older than the newest two release lines (see versionStanding). */
  versionStanding: z.enum(['current', 'previous', 'outdated', 'newer']),
  /** Each data source of the cluster the member has checked: whether it could reach it, and if not why. */
  sources: z.array(z.object({ dataSourceId: z.string(), name: z.string(), ok: z.boolean(), error: z.string().nullable(), checkedAt: z.string() })),
});
export type MemberStatusView = z.infer<typeof MemberStatusView>;

/**
 * A cluster's live traffic over the last hour, from the control plane's own counts: queries per minute by the member
 * that served them (ok and failed), and the refreshes that ended in that hour by outcome.
 */
export const ClusterTrafficView = z.object({
  from: z.string(),
  to: z.string(),
  minutes: z.array(z.object({ at: z.string(), members: z.array(z.object({ memberId: z.string(), memberName: z.string(), ok: z.number().int(), failed: z.number().int() })) })),
  totals: z.object({ queries: z.number().int(), failed: z.number().int(), errorRate: z.number() }),
  refreshes: z.object({ succeeded: z.number().int(), failed: z.number().int(), cancelled: z.number().int() }),
});
export type ClusterTrafficView = z.infer<typeof ClusterTrafficView>;
