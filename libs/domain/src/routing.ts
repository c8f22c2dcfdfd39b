import { z } from 'zod';

export const RoutingMode = z.enum(['primary', 'distribute']);
export type RoutingMode = z.infer<typeof RoutingMode>;

const Threshold = z.number({ error: 'must be a number from 0 (off) to 100' }).int().min(0).max(100);

export const RoutingSettings = z
  .object({ mode: RoutingMode, cpuThreshold: Threshold, memoryThreshold: Threshold })
  .strict();
export type RoutingSettings = z.infer<typeof RoutingSettings>;

export const DEFAULT_ROUTING: RoutingSettings = { mode: 'primary', cpuThreshold: 0, memoryThreshold: 0 };

/** What routing needs to know of a member: its record plus its presence (online, load). */
export interface MemberState {
  id: string;
  name: string;
  primary: boolean;
  enabled: boolean;
  online: boolean;
  /** Drained by an admin (or shutting down): online, but it takes no new work. */
  draining?: boolean;
  /** 0..100, from the last heartbeat; ignored when offline. */
  cpu: number;
  memory: number;
  /** Lower joined earlier; the fallback order when the primary cannot serve. */
  joinOrder: number;
  /** What the member last found when it checked each data source (by id); a source it has not checked is not here. */
  sources?: Record<string, { ok: boolean; error?: string }>;
}

/** The data source the work is for: routing skips members that cannot reach it while another can. */
export interface RoutedSource {
  id: string;
  name: string;
}

export interface Server {
  memberId: string;
  memberName: string;
  reason: string;
}

export type RoutingDecision =
  | { servers: Server[]; canServe: true }
  | { servers: []; canServe: false; reason: string };
