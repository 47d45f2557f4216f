import type { Log } from "../mirror/types";

/**
 * The states of a digest's fill, in its fill object:
 * - idle: nothing in progress (a fresh object, or one whose last fill ended without storing).
 * - downloading: the one upstream download runs; clients join it.
 * - verified: every byte arrived and matches the digest; the bytes wait for their upload, clients
 *   still join them.
 * - uploading: the bytes go to the store (a step of it, for a spool in SQLite); clients still join.
 * - stored: the store has the blob; clients go there.
 * - failed: the download or its spool failed, the bytes were wrong, or the store refused a blob held
 *   in memory: nothing is kept, the next pull fetches again.
 * - abandoned: the upload of a spool failed too often: it is dropped (a multipart upload aborted), the
 *   next pull fetches again.
 */
export type FillState = "idle" | "downloading" | "verified" | "uploading" | "stored" | "failed" | "abandoned";

/** Every transition there is. ARCHITECTURE.md draws this table; keep the two alike. */
const NEXT: Readonly<Record<FillState, readonly FillState[]>> = {
  // verified: a pending upload an earlier instance left, taken up after a restart.
  idle: ["downloading", "verified"],
  // stored: the blob was found in the store before a byte was fetched, or stored as it streamed.
  downloading: ["verified", "stored", "failed"],
  verified: ["uploading", "failed"],
  // verified: a step of the upload is over, more parts (or a retry) follow in the next alarm.
  uploading: ["stored", "verified", "failed", "abandoned"],
  stored: ["downloading"],
  failed: ["downloading"],
  abandoned: ["downloading"],
};

/** Details logged with a transition (never credentials). */
export type TransitionDetails = Readonly<Record<string, string | number | boolean | undefined>>;

/**
 * Transitions logged on a line of their own at once: a fill's ends. The others are held and logged on
 * the next line that is (as `via`, their details merged into it), or by `flush` when the fill has
 * reached a state it stays in for a while: its download, once it is known to be long (anything but a
 * blob small enough for memory), and its wait for the alarm. A small blob's fill then takes one line
 * instead of four, a large one's two or three: Workers Logs bills (and limits) by the line,
 * and under `wrangler dev` a line costs ~2 ms of the thread.
 */
const AT_ONCE: ReadonlySet<FillState> = new Set(["stored", "failed", "abandoned"]);

/**
 * One digest's fill state: every change goes through `to`, which refuses a transition the table does
 * not have and logs each one with the digest (`blob.<state>`, `from` the state on the line before;
 * see AT_ONCE).
 */
export class FillMachine {
  private current: FillState = "idle";
  /** The state the last line logged. */
  private logged: FillState = "idle";
  /** Transitions not logged yet, oldest first. */
  private held: Array<{ state: FillState; details: TransitionDetails }> = [];

  constructor(
    private readonly digest: string,
    private readonly log: () => Log,
  ) {}

  get state(): FillState {
    return this.current;
  }

  /** In one of `states`. */
  is(...states: FillState[]): boolean {
    return states.includes(this.current);
  }

  to(next: FillState, details: TransitionDetails = {}): void {
    const from = this.current;
    if (!NEXT[from].includes(next))
      throw new Error(`fill of ${this.digest}: no transition ${from} → ${next}`);
    this.current = next;
    this.held.push({ state: next, details });
    if (AT_ONCE.has(next)) this.flush();
  }

  /** Logs the transitions held back, on one line: the fill stays in its state for a while. */
  flush(): void {
    const last = this.held.at(-1);
    if (!last) return;
    const via = this.held.slice(0, -1).map((held) => held.state);
    const details = mergeDetails(this.held.map((held) => held.details));
    this.held = [];
    const from = this.logged;
    this.logged = last.state;
    this.log()({
      event: `blob.${last.state}`,
      digest: this.digest,
      from,
      ...(via.length ? { via: via.join(" → ") } : {}),
      ...details,
    });
  }
}

/**
 * The held steps' details on one line. A detail two steps give with different values keeps both, in
 * the order they happened (`"store_refused → upstream_503"`): a later step must not hide why an
 * earlier one went as it did.
 */
function mergeDetails(steps: readonly TransitionDetails[]): TransitionDetails {
  const merged: Record<string, string | number | boolean | undefined> = {};
  for (const details of steps) {
    for (const [key, value] of Object.entries(details)) {
      if (value === undefined) continue;
      const before = merged[key];
      merged[key] = before === undefined || before === value ? value : `${before} → ${value}`;
    }
  }
  return merged;
}

/** The transition table, for the diagram's spec. */
export function transitions(): ReadonlyArray<readonly [FillState, FillState]> {
  return (Object.keys(NEXT) as FillState[]).flatMap((from) => NEXT[from].map((to) => [from, to] as const));
}
