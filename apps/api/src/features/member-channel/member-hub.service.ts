import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomBytes, randomUUID } from 'node:crypto';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import {
  CLOSE,
  MAX_FRAME_BYTES,
  MEMBER_CONNECT_PATH,
  MemberMessage,
  memberConnectMessage,
  parseFrame,
  PROTOCOL_MIN,
  PROTOCOL_VERSION,
  VERSION,
  type LiveWork,
  type MemberSettings,
  type Presence,
  type ServerMessage,
  type ServerMessageOf,
} from '@gateway/domain';
import { publicKeyKind, SealedBox, verifyMessage } from '@gateway/domain/crypto';
import { Prisma } from '../../generated/prisma/client';
import { CONFIG, type Config } from '../../infra/config/config';
import { PrismaService } from '../../infra/database/prisma.service';
import { ClusterStateService } from '../../infra/cluster-state/cluster-state.service';
import { AgentAuthService } from '../agents/agent-auth.service';
import { AuditService } from '../audit/audit.service';
import { routingOf, toMemberView } from '../clusters/views';
import { MemberConnection, type LiveSink, type RefreshEnd } from './member-connection';
import { OutageWatch } from '../../infra/common/outage-watch';
import { toJobDataSource } from '../datasources/datasources.service';

/** How long a new connection may take to say hello and sign its challenge. */
const HANDSHAKE_MS = 10_000;
/** Tokens are renewed this long before they expire. */
const TOKEN_RENEW_MS = 2 * 60_000;

type Listener = (clusterId: string, memberId: string) => void;

/**
 * The members' endpoint: each member keeps one WebSocket to one API instance, authenticated with its Ed25519 key.
 * This instance holds the members connected to it: online means connected (presence is written for every instance
 * to route by, and withdrawn the moment the connection closes), a member silent for PRESENCE_TTL_MS (frozen, cut
 * off) is disconnected, and work for a member goes out on its connection.
 */
@Injectable()
export class MemberHub implements OnModuleDestroy {
  private readonly logger = new Logger(MemberHub.name);
  readonly instanceId = randomUUID();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  private readonly connections = new Map<string, MemberConnection>();
  private readonly upListeners: Listener[] = [];
  private readonly downListeners: Listener[] = [];
  private readonly liveness: NodeJS.Timeout;
  private stopping = false;
  /** Heartbeats are several a second: a Redis outage is said once, not once per heartbeat. */
  private readonly presenceWatch = new OutageWatch(this.logger, 'presence of the members connected here');

  constructor(
    private readonly prisma: PrismaService,
    private readonly state: ClusterStateService,
    private readonly auth: AgentAuthService,
    private readonly audit: AuditService,
    @Inject(CONFIG) private readonly config: Config,
  ) {
    this.liveness = setInterval(() => this.checkLiveness(), Math.max(50, Math.floor(config.HEARTBEAT_MS / 2)));
    this.liveness.unref();
    state.onConfigChange((clusterId) => void this.pushSettings(clusterId));
    state.provideLocalPresence((clusterId, memberIds) => {
      const held = new Map<string, Presence>();
      for (const id of memberIds) {
        const c = this.get(id);
        if (c && c.member.clusterId === clusterId) held.set(id, this.presenceOf(c));
      }
      return held;
    });
  }

  /** Takes the WebSocket upgrades of MEMBER_CONNECT_PATH on the API's HTTP(S) server. */
  attach(server: Server) {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== MEMBER_CONNECT_PATH || this.stopping) {
        socket.end(`HTTP/1.1 ${this.stopping ? '503 Service Unavailable' : '404 Not Found'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.handshake(ws, req));
    });
  }

  onMemberUp(listener: Listener) {
    this.upListeners.push(listener);
  }

  onMemberDown(listener: Listener) {
    this.downListeners.push(listener);
  }

  get(memberId: string): MemberConnection | undefined {
    const c = this.connections.get(memberId);
    return c?.isOpen ? c : undefined;
  }

  /** Member connections open on this instance. */
  get connectedCount() {
    let n = 0;
    for (const c of this.connections.values()) if (c.isOpen) n++;
    return n;
  }

  localMembers(clusterId: string): MemberConnection[] {
    return [...this.connections.values()].filter((c) => c.isOpen && c.member.clusterId === clusterId);
  }

  /** Live work for a member connected here; false when it is not (any more). */
  startLive(memberId: string, id: string, work: LiveWork, sink: LiveSink): boolean {
    return this.get(memberId)?.startLive(id, work, sink) ?? false;
  }

  cancelLive(memberId: string, id: string) {
    this.connections.get(memberId)?.cancelLive(id);
  }

  runRefresh(memberId: string, id: string, refreshId: string): Promise<RefreshEnd> {
    const c = this.get(memberId);
    return c ? c.runRefresh(id, refreshId) : Promise.resolve({ outcome: 'lost', message: 'the member is not connected here' });
  }

  private handshake(ws: WebSocket, req: IncomingMessage) {
    const peer = req.socket.remoteAddress ?? 'unknown';
    const nonce = randomBytes(32).toString('base64url');
    let step: 'hello' | 'auth' | 'done' = 'hello';
    let hello: Extract<MemberMessage, { t: 'hello' }> | null = null;
    let member: { id: string; name: string; clusterId: string; publicKey: string } | null = null;
    const timer = setTimeout(() => ws.close(CLOSE.unauthorized, `no hello and signed challenge within ${HANDSHAKE_MS} ms`), HANDSHAKE_MS);
    const refuse = (code: number, reason: string) => {
      clearTimeout(timer);
      this.logger.warn(`refused a member connection from ${peer}${hello ? ` (member ${hello.memberId})` : ''}: ${reason}`);
      ws.close(code, reason.slice(0, 120));
    };
    ws.on('error', () => undefined);
    ws.on('close', () => clearTimeout(timer));
    const onMessage = async (data: RawData, isBinary: boolean) => {
      if (isBinary) return refuse(CLOSE.malformed, 'malformed frame: the protocol speaks JSON text frames');
      const parsed = parseFrame(MemberMessage, data.toString());
      if (!parsed.ok) return refuse(CLOSE.malformed, parsed.reason);
      const m = parsed.message;
      if (step === 'hello') {
        if (m.t !== 'hello') return refuse(CLOSE.malformed, `expected hello first, got ${m.t}`);
        hello = m;
        const version = Math.min(m.protocol.max, PROTOCOL_VERSION);
        if (version < Math.max(m.protocol.min, PROTOCOL_MIN)) {
          // One close reason (at most 123 bytes): what each side speaks, and what to install.
          const fix = m.protocol.max < PROTOCOL_MIN ? `install gateway-agent@${VERSION}` : 'upgrade the control plane';
          return refuse(CLOSE.version, `agent ${m.agentVersion.slice(0, 20)} speaks protocol ${m.protocol.min}-${m.protocol.max}, this control plane ${PROTOCOL_MIN}-${PROTOCOL_VERSION} (${VERSION}): ${fix}`);
        }
        step = 'auth';
        member = await this.prisma.member.findUnique({ where: { id: m.memberId }, select: { id: true, name: true, clusterId: true, publicKey: true } }).catch(() => null);
        if (ws.readyState !== ws.OPEN) return;
        if (!member) return refuse(CLOSE.removed, `member ${m.memberId} is not registered (removed, or never joined): install again`);
        ws.send(JSON.stringify({ t: 'challenge', nonce, protocol: { min: PROTOCOL_MIN, max: PROTOCOL_VERSION } } satisfies ServerMessage));
        return;
      }
      if (step === 'auth') {
        if (m.t !== 'auth' || !member || !hello) return refuse(CLOSE.malformed, `expected auth, got ${m.t}`);
        step = 'done';
        if (!verifyMessage(member.publicKey, memberConnectMessage(member.id, nonce), m.signature)) {
          await this.auditRefusal(member, 'member.connect.refused', { reason: 'the signature does not match the member key (or answers another challenge)', peer });
          return refuse(CLOSE.unauthorized, 'the signature does not match the member key, or answers another challenge: check the agent config');
        }
        clearTimeout(timer);
        // From here on the admitted connection's own handler reads every frame (once).
        ws.off('message', handshakeFrame);
        await this.admit(ws, member, hello, Math.min(hello.protocol.max, PROTOCOL_VERSION), peer).catch((e: Error) => {
          this.logger.error(`could not admit member ${member!.id} of cluster ${member!.clusterId}: ${e.message}`);
          ws.close(1011, 'the control plane could not admit this member now; retrying is fine');
        });
        return;
      }
    };
    const handshakeFrame = (data: RawData, isBinary: boolean) => void onMessage(data, isBinary);
    ws.on('message', handshakeFrame);
  }

  private async admit(ws: WebSocket, member: { id: string; name: string; clusterId: string }, hello: Extract<MemberMessage, { t: 'hello' }>, protocol: number, peer: string) {
    const [loaded, token] = await Promise.all([this.settings(member.id), this.auth.issueToken(member.id)]);
    if (!loaded) return void ws.close(CLOSE.removed, 'this member was removed from its cluster: install again');
    const { settings, clusterKey } = loaded;
    if (ws.readyState !== ws.OPEN) return;
    const conn = new MemberConnection(ws, { memberId: member.id, memberName: member.name, clusterId: member.clusterId, agentVersion: hello.agentVersion, protocol }, randomUUID());
    const previous = this.connections.get(member.id);
    this.connections.set(member.id, conn);
    previous?.close(CLOSE.replaced, 'a newer connection of this member replaced this one');
    let tokenExpires = Date.parse(token.expiresAt);
    conn.send({ t: 'welcome', protocol, instanceId: this.instanceId, settings, token: token.token, tokenExpiresAt: token.expiresAt });
    ws.on('pong', () => (conn.lastSeen = Date.now()));
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return void this.violation(conn, CLOSE.malformed, 'malformed frame: the protocol speaks JSON text frames');
      const bytes = (data as Buffer).length;
      const parsed = parseFrame(MemberMessage, data.toString());
      if (!parsed.ok) return void this.violation(conn, CLOSE.malformed, parsed.reason);
      const m = parsed.message;
      if (m.t === 'presence') {
        conn.lastSeen = conn.reportedAt = Date.now();
        Object.assign(conn, { cpu: m.cpu, memory: m.memory, busy: m.busy, slots: m.slots, draining: !!m.draining, sources: m.sources ?? [] });
        void this.announce(conn);
        if (tokenExpires - Date.now() < TOKEN_RENEW_MS) {
          tokenExpires = Date.now() + TOKEN_RENEW_MS * 2; // one renewal at a time
          void this.auth.issueToken(member.id).then((t) => {
            tokenExpires = Date.parse(t.expiresAt);
            conn.send({ t: 'token', token: t.token, tokenExpiresAt: t.expiresAt });
          }, () => undefined);
        }
        return;
      }
      if (m.t === 'hello' || m.t === 'auth') return void this.violation(conn, CLOSE.malformed, `${m.t} again on an authenticated connection`);
      if (m.t === 'cluster-key-ack') {
        void this.prisma.member
          .updateMany({ where: { id: member.id, pendingKeyGeneration: m.generation }, data: { pendingClusterKey: Prisma.DbNull, pendingKeyGeneration: null } })
          .then(() => this.logger.log(`member ${member.id} of cluster ${member.clusterId} holds cluster key generation ${m.generation}`), () => undefined);
        return;
      }
      if (m.t === 'token-request') {
        void this.auth.issueToken(member.id).then((t) => conn.send({ t: 'token', token: t.token, tokenExpiresAt: t.expiresAt }), () => undefined);
        return;
      }
      const refused = conn.accept(m, bytes);
      if (refused) void this.violation(conn, CLOSE.refused, refused);
    });
    ws.on('close', (code, reason) => void this.gone(conn, `connection closed (${code}${reason.length ? `: ${reason.toString()}` : ''})`));
    this.logger.log(`member ${member.id} (${member.name}) of cluster ${member.clusterId} connected from ${peer}, protocol ${protocol}, agent ${hello.agentVersion}`);
    // A rotated cluster key it missed, and its key to receive the next one with (registered, or replaced, as it
    // connects; not awaited). Only now, with the connection's handlers in place: nothing the member sends is missed.
    if (clusterKey) conn.send(clusterKey);
    if (hello.boxKey && publicKeyKind(hello.boxKey) === 'rsa') {
      void this.prisma.member.update({ where: { id: member.id }, data: { boxPublicKey: hello.boxKey } }).catch(() => undefined);
    }
    await this.announce(conn);
    for (const l of this.upListeners) l(member.clusterId, member.id);
  }

  /** A protocol violation: refused, audited, and the connection closed with the reason. */
  private async violation(conn: MemberConnection, code: number, reason: string) {
    this.logger.warn(`closing the connection of member ${conn.member.memberId} of cluster ${conn.member.clusterId}: ${reason}`);
    conn.close(code, reason);
    if (code === CLOSE.refused) {
      await this.auditRefusal({ id: conn.member.memberId, name: conn.member.memberName, clusterId: conn.member.clusterId }, 'member.message.refused', { reason });
    }
  }

  private async auditRefusal(member: { id: string; name: string; clusterId: string }, action: string, detail: Record<string, unknown>) {
    await this.audit
      .recordMember(member, { clusterId: member.clusterId, action, targetType: 'member', targetId: member.id, detail })
      .catch((e: Error) => this.logger.error(`could not audit ${action} of member ${member.id} of cluster ${member.clusterId}: ${e.message}`));
  }

  private presenceOf(conn: MemberConnection): Presence {
    return {
      memberId: conn.member.memberId,
      version: conn.member.agentVersion,
      cpu: conn.cpu,
      memory: conn.memory,
      activeJobs: conn.busy,
      busy: conn.busy,
      slots: conn.slots,
      ...(conn.reportedAt ? { reportedAt: conn.reportedAt } : {}),
      at: Date.now(),
      instanceId: this.instanceId,
      protocol: conn.member.protocol,
      ...(conn.draining ? { draining: true } : {}),
      ...(conn.sources.length ? { sources: conn.sources } : {}),
    };
  }

  private async announce(conn: MemberConnection) {
    if (!conn.isOpen || this.connections.get(conn.member.memberId) !== conn) return;
    await this.state.writePresence(conn.member.clusterId, this.presenceOf(conn), this.config.PRESENCE_TTL_MS).then(
      () => this.presenceWatch.succeeded(),
      (e: Error) => this.presenceWatch.failed(e),
    );
  }

  private async gone(conn: MemberConnection, reason: string) {
    conn.lose(reason);
    if (this.connections.get(conn.member.memberId) !== conn) return; // replaced by a newer connection
    this.connections.delete(conn.member.memberId);
    this.logger.log(`member ${conn.member.memberId} of cluster ${conn.member.clusterId} is offline: ${reason}`);
    for (const l of this.downListeners) l(conn.member.clusterId, conn.member.memberId);
    await this.state.withdrawPresence(conn.member.clusterId, conn.member.memberId, this.instanceId).catch((e: Error) => {
      this.logger.warn(`could not withdraw the presence of member ${conn.member.memberId} of cluster ${conn.member.clusterId}: ${e.message}`);
    });
  }

  /** A member silent for the presence TTL is taken for frozen or cut off; the others are pinged. */
  private checkLiveness() {
    const now = Date.now();
    for (const conn of this.connections.values()) {
      const silent = now - conn.lastSeen;
      if (silent > this.config.PRESENCE_TTL_MS) {
        this.logger.warn(`member ${conn.member.memberId} of cluster ${conn.member.clusterId} sent nothing for ${silent} ms: disconnecting it`);
        conn.terminate(`no heartbeat for ${silent} ms`);
        void this.gone(conn, `no heartbeat for ${silent} ms`);
      } else {
        conn.ping();
      }
    }
  }

  /**
   * What a member needs of its cluster, and a rotated cluster key it has not confirmed yet (sealed to its box key);
   * null when the member no longer exists.
   */
  private async settings(memberId: string): Promise<{ settings: MemberSettings; clusterKey: ServerMessageOf<'cluster-key'> | null } | null> {
    const member = await this.prisma.member.findUnique({ where: { id: memberId }, include: { cluster: { include: { members: { orderBy: { joinOrder: 'asc' } }, dataSources: { orderBy: { createdAt: 'asc' } } } } } });
    if (!member) return null;
    const c = member.cluster;
    const box = member.pendingKeyGeneration === c.keyGeneration ? SealedBox.safeParse(member.pendingClusterKey) : null;
    const clusterKey = box?.success ? { t: 'cluster-key' as const, generation: c.keyGeneration, publicKey: c.publicKey, box: box.data } : null;
    const settings: MemberSettings = {
      member: toMemberView(member),
      cluster: { id: c.id, name: c.name, routing: routingOf(c) },
      members: c.members.map((m) => ({ id: m.id, name: m.name, primary: m.isPrimary, enabled: m.enabled, joinOrder: m.joinOrder })),
      heartbeatMs: this.config.HEARTBEAT_MS,
      // Sealed to the cluster key like every data source a member gets: the control plane cannot open them.
      dataSources: c.dataSources.map(toJobDataSource),
      sourceCheckMs: this.config.SOURCE_CHECK_MS,
    };
    return { settings, clusterKey };
  }

  /** A cluster's config changed: its members connected here get their new settings (or, if removed, are let go). */
  private async pushSettings(clusterId: string) {
    for (const conn of this.localMembers(clusterId)) {
      const loaded = await this.settings(conn.member.memberId).catch(() => undefined);
      if (loaded === null) {
        this.logger.log(`member ${conn.member.memberId} of cluster ${clusterId} was removed: closing its connection`);
        conn.close(CLOSE.removed, 'this member was removed from its cluster: install again');
        void this.gone(conn, 'removed from its cluster');
      } else if (loaded) {
        // A rotated cluster key goes before the settings that name data sources sealed to it.
        if (loaded.clusterKey) conn.send(loaded.clusterKey);
        conn.send({ t: 'settings', settings: loaded.settings });
      }
    }
  }

  /** Shutdown: members are told to go to another instance, and are offline here at once. */
  async onModuleDestroy() {
    this.stopping = true;
    clearInterval(this.liveness);
    const all = [...this.connections.values()];
    for (const conn of all) conn.close(CLOSE.goingAway, 'the control plane instance is shutting down: reconnect');
    await Promise.all(all.map((conn) => this.gone(conn, 'the API instance shut down')));
    this.wss.close();
  }
}
