import { Injectable } from '@nestjs/common';
import type { AuditEventView } from '@gateway/domain';
import { PrismaService } from '../../infra/database/prisma.service';
import { Prisma } from '../../generated/prisma/client';
import type { AuthUser } from '../../infra/http/principal';

export interface AuditEntry {
  clusterId: string | null;
  action: string;
  targetType: string;
  targetId?: string | null;
  detail?: Record<string, unknown>;
}

/** The audit log of management operations: who, what, when, on what. Never holds secrets. */
@Injectable()
export class AuditService {
  constructor(private readonly prisma: PrismaService) {}

  async record(actor: AuthUser, entry: AuditEntry) {
    await this.prisma.auditEvent.create({
      data: {
        clusterId: entry.clusterId,
        actorId: actor.id,
        actorEmail: actor.email,
        action: entry.action,
        targetType: entry.targetType,
        targetId: entry.targetId ?? null,
        detail: (entry.detail ?? Prisma.DbNull) as Prisma.InputJsonValue,
      },
    });
  }

  /** Something a member did (or tried): the actor is the member, named `member:<name>`. */
  async recordMember(member: { id: string; name: string }, entry: AuditEntry) {
    await this.prisma.auditEvent.create({
      data: {
        clusterId: entry.clusterId,
        actorId: null,
        actorEmail: `member:${member.name}`,
        action: entry.action,
        targetType: entry.targetType,
        targetId: entry.targetId ?? null,
        detail: (entry.detail ?? Prisma.DbNull) as Prisma.InputJsonValue,
      },
    });
  }

  async list(clusterId: string, limit: number, before?: string): Promise<AuditEventView[]> {
    const rows = await this.prisma.auditEvent.findMany({
      where: { clusterId, ...(before ? { createdAt: { lt: new Date(before) } } : {}) },
      orderBy: { createdAt: 'desc' },
      take: limit,
    });
    return rows.map((r) => ({
      id: r.id,
      clusterId: r.clusterId,
      actor: r.actorEmail,
      action: r.action,
      targetType: r.targetType,
      targetId: r.targetId,
      detail: r.detail ?? null,
      at: r.createdAt.toISOString(),
    }));
  }
}
