import type { SpendingLimits } from "../config";
import { RegistryError } from "../oci/errors";

/** The budget's window: a clock hour, the hours the stats object keeps spending in. */
export const BUDGET_WINDOW_MS = 3_600_000;
/** Clients one isolate keeps counts for; beyond, the oldest are forgotten. */
const MAX_CLIENTS = 10_000;

interface Spent {
  hour: number;
  requests: number;
  bytes: number;
  /** The stats object said the client is over this budget (counted in every isolate) until then. */
  overUntil: Record<BudgetKind, number>;
}

export type BudgetKind = "requests" | "bytes";

/**
 * What each client spent in this isolate in the current hour, and which clients the stats object
 * reported over budget across all isolates. Counting here is synchronous, so parallel requests in one
 * isolate cannot all pass a check made before any of them was counted.
 */
export class SpendingMemory {
  private readonly clients = new Map<string, Spent>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Milliseconds until the client may spend `kind` again; 0 when it may now. */
  blockedFor(client: string, kind: BudgetKind, limit: number): number {
    if (limit <= 0) return 0;
    const now = this.now();
    const spent = this.current(client, now);
    const untilHourEnd = spent.hour + BUDGET_WINDOW_MS - now;
    if (spent.overUntil[kind] > now) return spent.overUntil[kind] - now;
    return spent[kind] >= limit ? untilHourEnd : 0;
  }

  add(client: string, kind: BudgetKind, amount: number): void {
    const spent = this.current(client, this.now());
    spent[kind] = Math.max(0, spent[kind] + amount);
  }

  /** The stats object counted these clients over this budget this hour, in all isolates together. */
  over(kind: BudgetKind, clients: readonly string[]): void {
    const now = this.now();
    for (const client of clients) {
      const spent = this.current(client, now);
      spent.overUntil[kind] = spent.hour + BUDGET_WINDOW_MS;
    }
  }

  private current(client: string, now: number): Spent {
    const hour = now - (now % BUDGET_WINDOW_MS);
    const known = this.clients.get(client);
    if (known && known.hour === hour) return known;
    if (known) this.clients.delete(client);
    if (this.clients.size >= MAX_CLIENTS) {
      for (const key of this.clients.keys()) {
        if (this.clients.size < MAX_CLIENTS) break;
        this.clients.delete(key);
      }
    }
    const fresh = { hour, requests: 0, bytes: 0, overUntil: { requests: 0, bytes: 0 } };
    this.clients.set(client, fresh);
    return fresh;
  }
}

/**
 * One request's spending for its client (`user:<name>`, or `ip:<address or /64>` when anonymous). A
 * request that may cost quota is charged before the upstream is asked, and refused with 429
 * TOOMANYREQUESTS (and `Retry-After`: the end of the hour) when the client's budget is spent; once
 * its answer says what it really cost, the charge is settled.
 */
export class ClientSpending {
  private charged = 0;

  constructor(
    readonly client: string,
    private readonly memory: SpendingMemory,
    private readonly limits: SpendingLimits,
    /** Told when a budget refuses (the audit line, the stats). */
    private readonly refused: (kind: BudgetKind) => void = () => {},
  ) {}

  /** Before a request that may be counted: refuses when the budget is spent, else charges one. */
  charge(): void {
    this.admit("requests");
    this.memory.add(this.client, "requests", 1);
    this.charged++;
  }

  /** What the request's counted upstream requests came to: the charge is corrected to it. */
  settle(counted: number): void {
    this.memory.add(this.client, "requests", counted - this.charged);
    this.charged = counted;
  }

  /** Before a fill starts for this client: refused when its fills' abandoned bytes are over budget. */
  admitFill(): void {
    this.admit("bytes");
  }

  /** The client hung up on a fill of `bytes`, which goes on and stores them: charged to it. */
  abandoned(bytes: number): void {
    this.memory.add(this.client, "bytes", bytes);
  }

  private admit(kind: BudgetKind): void {
    const limit = this.limits[kind];
    const wait = this.memory.blockedFor(this.client, kind, limit);
    if (wait <= 0) return;
    this.refused(kind);
    const what =
      kind === "requests"
        ? `${limit} upstream requests that count against the upstream's quota`
        : `${limit} bytes of downloads it left unfinished`;
    throw new RegistryError(429, "TOOMANYREQUESTS", `this client has spent its budget of ${what} this hour`, {
      "Retry-After": String(Math.max(1, Math.ceil(wait / 1000))),
    });
  }
}
