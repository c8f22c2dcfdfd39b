import { Injectable } from '@nestjs/common';
import type { Role } from '@gateway/domain';
import type { AuthUser } from '../../infra/http/principal';
import { PrismaService } from '../../infra/database/prisma.service';
import { forbidden, notFound } from '../../infra/http/errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (s: string) => UUID.test(s);

/** The clusters a person can name with `ref` (an id or a name) and holds a role on. */
export const visibleCluster = (userId: string, ref: string) => ({
  ...(isUuid(ref) ? { OR: [{ id: ref }, { name: ref }] } : { name: ref }),
  roles: { some: { userId } },
});

/**
 * Who may do what on a cluster. A caller with no role on a cluster gets 404 for everything in it, as if it
 * did not exist; a User asking for an Admin operation gets 403.
 */
@Injectable()
export class AccessService {
  constructor(private readonly prisma: PrismaService) {}

  /** The cluster named by id or name, if the user has at least the given role on it. */
  async cluster(user: AuthUser, ref: string, need: Role, field = 'id') {
    const cluster = await this.prisma.cluster.findFirst({ where: visibleCluster(user.id, ref), include: { roles: { where: { userId: user.id } } } });
    if (!cluster) throw notFound(`no cluster "${ref}" that you can see`, field);
    this.check(cluster.name, cluster.roles[0].role as Role, need);
    return { ...cluster, role: cluster.roles[0].role as Role };
  }

  check(clusterName: string, has: Role, need: Role) {
    if (need === 'admin' && has !== 'admin') {
      throw forbidden(`you are a User of cluster "${clusterName}"; this needs an Admin of it`);
    }
  }
}
