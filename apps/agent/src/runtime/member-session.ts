import { AgentChallenge, AgentConfigView, AgentRedisCredentials, AgentToken, memberAuthMessage } from '@gateway/domain';
import { signMessage } from '@gateway/domain/crypto';
import { ApiClient, ApiError } from '../api-client';
import type { AgentConfig } from '../agent-config';
import { CliError } from '../errors';

/** The API no longer knows this member: it was removed, or its cluster deleted. */
export class MemberRemovedError extends CliError {}

/** The member's authenticated session with the API: a short-lived token got by signing a nonce. */
export class MemberSession {
  private readonly api: ApiClient;
  private expiresAt = 0;

  constructor(private readonly config: AgentConfig) {
    this.api = new ApiClient(config.apiUrl);
  }

  private async authenticate() {
    let challenge: { challengeId: string; nonce: string };
    try {
      challenge = AgentChallenge.parse(await this.api.request('POST', '/api/agents/challenge', { memberId: this.config.memberId }));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        throw new MemberRemovedError(`member ${this.config.memberName} (${this.config.memberId}) is not registered any more: it was removed from cluster ${this.config.clusterName}; install again`);
      }
      throw e;
    }
    const signature = signMessage(this.config.memberPrivateKey, memberAuthMessage(this.config.memberId, challenge.nonce));
    const token = AgentToken.parse(await this.api.request('POST', '/api/agents/token', { challengeId: challenge.challengeId, signature }));
    this.api.setToken(token.token);
    this.expiresAt = Date.parse(token.expiresAt);
  }

  async redisCredentials(): Promise<AgentRedisCredentials> {
    return AgentRedisCredentials.parse(await this.request('POST', '/api/agents/redis-credentials'));
  }

  /** An authenticated call as this member; an expired token is renewed once, transparently. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    if (Date.now() > this.expiresAt - 60_000) await this.authenticate();
    try {
      return await this.api.request<T>(method, path, body);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        await this.authenticate();
        return this.api.request<T>(method, path, body);
      }
      throw e;
    }
  }

  async fetchConfig(): Promise<AgentConfigView> {
    return AgentConfigView.parse(await this.request('GET', '/api/agents/config'));
  }
}
