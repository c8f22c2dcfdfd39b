import type { WebSocket } from 'ws';
import { isFullDataSource, type LiveWork, type MemberMessage, type MemberMessageOf, type ServerMessage, type SourceHealth } from '@gateway/domain';

/** The frames of one live request's answer, and how the request can end without one. */
export type LiveFrame = MemberMessageOf<'result' | 'columns' | 'rows' | 'end' | 'error' | 'params'>;
/** Frames that carry part of an answer; any other ends it. */
export const isPartialFrame = (m: LiveFrame) => m.t === 'columns' || m.t === 'rows' || m.t === 'params';
export interface LiveSink {
  /** A frame of the answer; `bytes` is its size on the wire. */
  frame(m: LiveFrame, bytes: number): void;
  /** The member is gone (connection closed, frozen), or `moved` to another instance: the request must go again. */
  lost(reason: string, moved?: boolean): void;
}

export type RefreshOutcome = MemberMessageOf<'refresh-end'>['outcome'] | 'lost';
export interface RefreshEnd {
  outcome: RefreshOutcome;
  message?: string;
}

export interface ConnectedMember {
  memberId: string;
  memberName: string;
  clusterId: string;
  agentVersion: string;
  protocol: number;
}

/**
 * One authenticated member connection: what was sent to it and is awaited from it. Work is addressed by ids this
 * side gave; a member that sends anything about an id it was not given (another member's work, or work that was
 * moved away from it) is refused: `accept` says why, and the caller closes the connection.
 */
export class MemberConnection {
  private readonly live = new Map<string, LiveSink>();
  private readonly refreshes = new Map<string, (end: RefreshEnd) => void>();
  private closed: string | null = null;
  lastSeen = Date.now();
  cpu = 0;
  memory = 0;
  busy = 0;
  /** When its last presence frame arrived (0: none yet). */
  reportedAt = 0;
  slots = 0;
  /** Whether the member could reach each data source when it last checked (its last presence frame). */
  sources: SourceHealth[] = [];
  draining = false;

  constructor(
    private readonly ws: WebSocket,
    readonly member: ConnectedMember,
    readonly connectionId: string,
  ) {}

  get isOpen() {
    return this.closed === null;
  }

  get inFlight() {
    return this.live.size;
  }

  send(message: ServerMessage) {
    if (this.closed) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  /** Data sources (id -> version) this connection has carried in full: later work names them only. */
  private readonly known = new Map<string, string>();

  /** Sends live work; its frames go to the sink until an answer ends it or the connection is lost. */
  startLive(id: string, work: LiveWork, sink: LiveSink): boolean {
    if (this.closed) return false;
    this.live.set(id, sink);
    this.send({ t: 'live', id, work: this.compact(work) });
    return true;
  }

  private compact(work: LiveWork): LiveWork {
    if (work.kind === 'ping' || !isFullDataSource(work.dataSource)) return work;
    const ds = work.dataSource;
    if (this.known.get(ds.id) === ds.version) return { ...work, dataSource: { id: ds.id, version: ds.version } };
    this.known.set(ds.id, ds.version);
    return work;
  }

  /** The caller gave up: the member stops the work, and anything it still sends about it is dropped quietly. */
  cancelLive(id: string) {
    if (this.live.delete(id)) this.send({ t: 'cancel', id });
    this.cancelled.add(id);
    if (this.cancelled.size > 10_000) this.cancelled.clear();
  }

  /** Ids this side cancelled: late frames about them are expected, not a protocol violation. */
  private readonly cancelled = new Set<string>();

  runRefresh(id: string, refreshId: string): Promise<RefreshEnd> {
    if (this.closed) return Promise.resolve({ outcome: 'lost', message: this.closed });
    return new Promise<RefreshEnd>((resolve) => {
      this.refreshes.set(id, resolve);
      this.send({ t: 'refresh', id, refreshId });
    });
  }

  /** A message about work; null when accepted, else why it is refused. */
  accept(m: MemberMessage, bytes: number): string | null {
    this.lastSeen = Date.now();
    switch (m.t) {
      case 'result':
      case 'columns':
      case 'rows':
      case 'end':
      case 'params':
      case 'error': {
        const sink = this.live.get(m.id);
        if (!sink) return this.cancelled.has(m.id) ? null : `a ${m.t} frame for live work ${m.id}, which is not this member's`;
        if (!isPartialFrame(m)) {
          this.live.delete(m.id);
          this.cancelled.add(m.id);
        }
        sink.frame(m, bytes);
        return null;
      }
      case 'refresh-end': {
        const done = this.refreshes.get(m.id);
        if (!done) return `the end of refresh run ${m.id}, which is not this member's`;
        this.refreshes.delete(m.id);
        done({ outcome: m.outcome, message: m.message });
        return null;
      }
      default:
        return null;
    }
  }

  /** The connection is gone: every request waiting on it goes elsewhere. */
  lose(reason: string) {
    if (this.closed) return;
    this.closed = reason;
    const live = [...this.live.values()];
    for (const id of this.live.keys()) this.cancelled.add(id);
    const refreshes = [...this.refreshes.values()];
    this.live.clear();
    this.refreshes.clear();
    for (const sink of live) sink.lost(reason);
    for (const done of refreshes) done({ outcome: 'lost', message: reason });
  }

  close(code: number, reason: string) {
    this.lose(reason);
    try {
      this.ws.close(code, reason.slice(0, 120));
    } catch {
      this.ws.terminate();
    }
  }

  terminate(reason: string) {
    this.lose(reason);
    this.ws.terminate();
  }

  ping() {
    if (!this.closed) this.ws.ping();
  }
}
