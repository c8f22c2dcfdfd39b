import { z } from 'zod';
import { Email } from './auth';

export const Role = z.enum(['admin', 'user'], { error: 'must be admin or user' });
export type Role = z.infer<typeof Role>;

export const GrantRequest = z.object({ email: Email, role: Role.default('admin') }).strict();
export type GrantRequest = z.infer<typeof GrantRequest>;

export const RoleView = z.object({ userId: z.string(), email: z.string(), role: Role, grantedAt: z.string() });
export type RoleView = z.infer<typeof RoleView>;

export const EmailParams = z.object({ id: z.string().trim().min(1).max(100), email: Email }).strict();

export const DataSourceUserRequest = z.object({ email: Email }).strict();
export const DataSourceUserView = z.object({ userId: z.string(), email: z.string(), addedAt: z.string() });

export const CreateTokenRequest = z
  .object({
    name: z.string().trim().min(1, { error: 'must not be empty' }).max(100),
    expiresInDays: z.number().int().min(1).max(3650).default(90),
  })
  .strict();
export type CreateTokenRequest = z.infer<typeof CreateTokenRequest>;

export const TokenView = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
  lastUsedAt: z.string().nullable(),
  revoked: z.boolean(),
});
export type TokenView = z.infer<typeof TokenView>;
/** The token itself appears in this one response only. */
export const CreatedToken = TokenView.extend({ token: z.string() });

export const InviteRequest = z.object({ email: Email }).strict();
export const Invitation = z.object({ userId: z.string(), email: z.string(), inviteToken: z.string(), expiresAt: z.string() });
export type Invitation = z.infer<typeof Invitation>;
export const AcceptInviteRequest = z
  .object({ inviteToken: z.string().min(10).max(200), password: z.string().min(10, { error: 'must be at least 10 characters' }).max(1024) })
  .strict();

export const AuditEventView = z.object({
  id: z.string(),
  clusterId: z.string().nullable(),
  actor: z.string(),
  action: z.string(),
  targetType: z.string(),
  targetId: z.string().nullable(),
  detail: z.unknown().nullable(),
  at: z.string(),
});
export type AuditEventView = z.infer<typeof AuditEventView>;

export const AuditQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(1000).default(100), before: z.iso.datetime({ error: 'must be an ISO date-time' }).optional() })
  .strict();
