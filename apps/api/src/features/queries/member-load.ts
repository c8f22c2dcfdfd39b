/** Ended work kept per member at most, and for how long. */
const MAX_ENDED = 4096;
const KEEP_ENDED_MS = 10_000;

/** One piece of live work this instance sent to a member: when it left, and when its answer came back. */
interface Ticket {
  readonly memberId: string;
  readonly startedAt: number;
  endedAt?: number;
}

/** How many tickets at the front of `list` (in the order they ended) ended before `time`. */
function endedBefore(list: Ticket[], time: number) {
  let n = 0;
  while (n < list.length && list[n].endedAt! < time) n++;
  return n;
}

/** What a member last reported of its live slots in use, and when the API holding its connection received it. */
export interface Reported {
  busy?: number;
  reportedAt?: number;
}

/**
 * How busy each member is, for `distribute`: what it last reported (the work of every API instance) with this
 * instance's own share of that report replaced by what this instance has in flight to it now.
 *
 * A report is a heartbeat snapshot. Taken while one of this instance's queries ran there, it would make that member
 * look busy until the next heartbeat though the query is long done, and a caller sending one query at a time would
 * then be kept off it for dozens of queries. So the work of this instance that was already under way when the report
 * was received (and so possibly counted in it) is taken out of the reported figure, and this instance's live count
 * is added instead. Work sent just before a report and not yet seen by the member is taken out too: the estimate
 * leans on this instance's own count, which is exact.
 */
export class MemberLoad {
  private readonly open = new Map<string, Set<Ticket>>();
  /** Work that ended recently, per member: kept until a report newer than its end makes it irrelevant. */
  private readonly ended = new Map<string, Ticket[]>();

  constructor(private readonly now: () => number = Date.now) {}

  begin(memberId: string): Ticket {
    const t: Ticket = { memberId, startedAt: this.now() };
    let set = this.open.get(memberId);
    if (!set) this.open.set(memberId, (set = new Set()));
    set.add(t);
    return t;
  }

  end(t: Ticket) {
    const set = this.open.get(t.memberId);
    if (!set?.delete(t)) return;
    if (!set.size) this.open.delete(t.memberId);
    t.endedAt = this.now();
    let list = this.ended.get(t.memberId);
    if (!list) this.ended.set(t.memberId, (list = []));
    list.push(t);
    // Pruned by load() as reports come; bounded here too, since in `primary` mode nothing asks (only a report newer
    // than a ticket's end makes it irrelevant, and reports come every heartbeat: a few seconds is plenty). The
    // front is cut in one go, so the cost per call stays constant.
    if (list.length > MAX_ENDED) list.splice(0, Math.max(endedBefore(list, t.endedAt - KEEP_ENDED_MS), list.length - MAX_ENDED / 2));
  }

  /** Work this instance has in flight to the member now. */
  inflight(memberId: string) {
    return this.open.get(memberId)?.size ?? 0;
  }

  /** The estimated live slots in use on the member: the others' work as reported, plus this instance's now. */
  load(memberId: string, reported?: Reported) {
    const mine = this.inflight(memberId);
    const busy = reported?.busy ?? 0;
    const at = reported?.reportedAt;
    if (!busy || at === undefined) return Math.max(busy, mine);
    let counted = 0;
    for (const t of this.open.get(memberId) ?? []) if (t.startedAt <= at) counted++;
    const list = this.ended.get(memberId);
    if (list) {
      // Ended before the report: the member had answered it before it sampled, so it is not in the figure.
      list.splice(0, endedBefore(list, at));
      if (!list.length) this.ended.delete(memberId);
      for (const t of list) if (t.startedAt <= at) counted++;
    }
    return Math.max(0, busy - counted) + mine;
  }
}
