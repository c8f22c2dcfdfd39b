import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import {
  CLOSE,
  MAX_FRAME_BYTES,
  MEMBER_CONNECT_PATH,
  memberConnectMessage,
  parseFrame,
  PROTOCOL_MIN,
  PROTOCOL_VERSION,
  ServerMessage,
  VERSION,
  type MemberMessage,
  type ServerMessageOf,
} from '@gateway/domain';
import { publicKeyOf, signMessage } from '@gateway/domain/crypto';
import { controlPlaneUrls, type AgentConfig } from '../agent-config';
import { CliError } from '../errors';
import { describeConnectError, wsUrlOf, type ControlPlaneNetwork } from '../transport';

/** The API's answer to an authenticated connection. */
export type Welcome = ServerMessageOf<'welcome'>;

export interface LinkHandlers {
  /** Connected and authenticated (also after every reconnect). */
  up(welcome: Welcome, apiUrl: string): void;
  /** Work and settings from the control plane. */
  message(m: ServerMessage): void;
  /** The connection is lost: work handed out on it now belongs to another member. */
  down(reason: string): void;
  /** The control plane no longer knows this member: it will not come back by reconnecting. */
  removed(reason: string): void;
}

/** Above this many bytes waiting in the socket, senders of result frames wait (backpressure). */
const HIGH_WATER = 1024 * 1024;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;

/**
 * The member's one connection to the control plane: a WebSocket to one of the configured URLs, through the proxy
 * when one applies, verifying TLS, authenticated with the member key (a fresh nonce per connection, signed). It
 * reconnects with exponential backoff and full jitter, moving on to the next URL after a failure, and treats a
 * control plane silent for a while (no ping, no message) as gone.
 */
export class MemberLink {
  private ws: WebSocket | null = null;
  private url = '';
  private attempt = 0;
  private urlIndex = 0;
  private stopped = false;
  private lastHeard = 0;
  private silenceMs = 5_000;
  private watchdog: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private ready = false;
  private drains: (() => void)[] = [];
  private firstUp: { resolve: () => void; reject: (e: Error) => void } | null = null;

  constructor(
    private readonly config: AgentConfig,
    private readonly network: ControlPlaneNetwork,
    private readonly log: Logger,
    private readonly handlers: LinkHandlers,
  ) {}

  get connected() {
    return this.ready;
  }

  get apiUrl() {
    return this.url;
  }

  /** Resolves once connected and authenticated the first time (it keeps trying until then, or until stop). */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.firstUp = { resolve, reject };
      this.connect();
    });
  }

  /** Sends a message now (false when not connected). */
  send(m: MemberMessage): boolean {
    return this.sendText(JSON.stringify(m));
  }

  private sendText(text: string): boolean {
    const ws = this.ws;
    if (!ws || !this.ready || ws.readyState !== ws.OPEN) return false;
    ws.send(text, () => {
      if (this.drains.length && ws.bufferedAmount <= HIGH_WATER) for (const d of this.drains.splice(0)) d();
    });
    return true;
  }

  /** Sends a serialized message once the socket has room: large results never crowd out the small ones behind them. */
  async sendTextPaced(text: string): Promise<boolean> {
    while (this.ws && this.ready && this.ws.bufferedAmount > HIGH_WATER) await new Promise<void>((r) => this.drains.push(r));
    return this.sendText(text);
  }

  private connect() {
    if (this.stopped) return;
    const urls = controlPlaneUrls(this.config);
    const base = urls[this.urlIndex % urls.length];
    this.url = base;
    let ws: WebSocket;
    try {
      ws = this.network.websocket(wsUrlOf(base, MEMBER_CONNECT_PATH), { maxPayload: MAX_FRAME_BYTES, handshakeTimeoutMs: 10_000 });
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'cannot open a connection to the control plane');
      return this.scheduleReconnect();
    }
    this.ws = ws;
    let authenticated = false;
    let failure: string | null = null;
    ws.on('error', (e) => {
      failure = describeConnectError(e, base);
    });
    ws.on('ping', () => (this.lastHeard = Date.now()));
    ws.on('open', () => {
      this.lastHeard = Date.now();
      ws.send(JSON.stringify({ t: 'hello', memberId: this.config.memberId, protocol: { min: PROTOCOL_MIN, max: PROTOCOL_VERSION }, agentVersion: VERSION, ...(this.config.memberBoxPrivateKey ? { boxKey: publicKeyOf(this.config.memberBoxPrivateKey) } : {}) } satisfies MemberMessage));
    });
    ws.on('message', (data, isBinary) => {
      this.lastHeard = Date.now();
      const parsed = isBinary ? ({ ok: false, reason: 'a binary frame' } as const) : parseFrame(ServerMessage, data.toString());
      if (!parsed.ok) {
        this.log.error({ reason: parsed.reason }, 'the control plane sent a frame this agent cannot read: reconnecting');
        ws.close(CLOSE.malformed, parsed.reason);
        return;
      }
      const m = parsed.message;
      if (m.t === 'challenge') {
        const signature = signMessage(this.config.memberPrivateKey, memberConnectMessage(this.config.memberId, m.nonce));
        ws.send(JSON.stringify({ t: 'auth', signature } satisfies MemberMessage));
      } else if (m.t === 'welcome') {
        authenticated = true;
        this.ready = true;
        this.attempt = 0;
        this.silenceMs = Math.max(2_000, m.settings.heartbeatMs * 6);
        this.startWatchdog(ws);
        this.log.info({ api: base, instance: m.instanceId, protocol: m.protocol }, 'connected to the control plane');
        this.handlers.up(m, base);
        this.firstUp?.resolve();
        this.firstUp = null;
      } else if (authenticated) {
        this.handlers.message(m);
      }
    });
    ws.on('close', (code, reasonBuf) => {
      const reason = reasonBuf.toString() || failure || `closed (${code})`;
      const wasReady = this.ready;
      if (this.ws === ws) {
        this.ws = null;
        this.ready = false;
      }
      this.stopWatchdog();
      for (const d of this.drains.splice(0)) d();
      if (wasReady) this.handlers.down(reason);
      if (this.stopped) return;
      if (code === CLOSE.removed) {
        const message = `member ${this.config.memberName} (${this.config.memberId}) is not registered any more: it was removed from cluster ${this.config.clusterName}; install again`;
        this.stopped = true;
        this.firstUp?.reject(new CliError(message));
        this.firstUp = null;
        this.handlers.removed(message);
        return;
      }
      const level = code === CLOSE.unauthorized || code === CLOSE.version || code === CLOSE.refused ? 'error' : wasReady ? 'warn' : 'info';
      this.log[level]({ api: base, code, reason }, wasReady ? 'lost the connection to the control plane: reconnecting' : 'could not connect to the control plane: retrying');
      this.urlIndex += 1;
      this.scheduleReconnect();
    });
  }

  /** The control plane pings every fraction of a heartbeat; silence means it (or the path to it) is gone. */
  private startWatchdog(ws: WebSocket) {
    this.stopWatchdog();
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastHeard > this.silenceMs) {
        this.log.warn({ silentMs: Date.now() - this.lastHeard }, 'the control plane went silent: reconnecting');
        ws.terminate();
      }
    }, 100);
    this.watchdog.unref();
  }

  private stopWatchdog() {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
  }

  private scheduleReconnect() {
    if (this.stopped) return;
    // Full jitter: members that lost the same instance do not all come back in the same millisecond.
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    this.attempt += 1;
    const delay = this.attempt === 1 ? Math.random() * BACKOFF_MIN_MS : Math.random() * cap;
    this.retry = setTimeout(() => this.connect(), delay);
  }

  /** Closes the connection for good. */
  async stop() {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.stopWatchdog();
    const ws = this.ws;
    if (!ws) return;
    const closed = new Promise<void>((r) => ws.once('close', () => r()));
    ws.close(1000, 'the member is stopping');
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2_000).unref())]);
    ws.terminate();
  }
}
