import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { clusterKeyPrefix } from '@gateway/domain';
import { CONFIG, type Config } from '../config/config';
import { RedisService } from '../redis/redis.service';

/**
 * With REDIS_AGENT_ACL on, each member gets a Redis user that can touch only its own cluster's keys and
 * channels, so a member of cluster A can neither read nor consume cluster B's jobs.
 */
@Injectable()
export class RedisAclService {
  private readonly logger = new Logger(RedisAclService.name);

  constructor(
    private readonly redis: RedisService,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  get enabled() {
    return this.config.REDIS_AGENT_ACL;
  }

  username(memberId: string) {
    return `${this.config.REDIS_PREFIX}-member-${memberId}`;
  }

  /** Creates or resets the member's Redis user and returns a fresh password for it. */
  async issue(clusterId: string, memberId: string): Promise<{ username: string; password: string }> {
    const username = this.username(memberId);
    const password = randomBytes(32).toString('base64url');
    const scope = clusterKeyPrefix(this.config.REDIS_PREFIX, clusterId);
    await this.redis.client.call(
      'ACL', 'SETUSER', username, 'reset', 'on', `>${password}`,
      `~${scope}:*`, `&${scope}:*`,
      '+@all', '-@dangerous', '-@admin', '+info', '+client|setname', '+client|getname', '+client|id', '+ping',
    );
    this.logger.log(`issued Redis credentials to member ${memberId} of cluster ${clusterId}`);
    return { username, password };
  }

  async revoke(memberId: string) {
    if (this.enabled) await this.redis.client.call('ACL', 'DELUSER', this.username(memberId));
  }
}
