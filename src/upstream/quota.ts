/**
 * What the mirror knows of an upstream's pull quota, per account, and which account to spend next.
 * Docker Hub counts manifest GETs per account (per IP when anonymous) over a rolling window and says
 * where one stands in `ratelimit-limit: 100;w=21600` and `ratelimit-remaining: 76;w=21600`; past the
 * limit it answers 429. Pure: the caller feeds it answers and the time.
 */

/** The name an anonymous account is shown and recorded under. */
export const ANONYMOUS = "anonymous";
/** Below this share of its limit an account is logged as running low. */
export const LOW_QUOTA = 0.1;
/** How long an exhausted account is left alone when the upstream names neither window nor `Retry-After`. */
const DEFAULT_BACKOFF_SECONDS = 60;
/** Upper bound of a remembered exhaustion, whatever an upstream says (Docker Hub's window is 6 h). */
const MAX_BACKOFF_SECONDS = 24 * 3600;

/** One reading of the `ratelimit-*` headers. */
export interface QuotaReading {
  readonly limit: number;
  readonly remaining: number;
  /** Seconds; 0 when the upstream did not say. */
  readonly window: number;
}

/** An account's standing, as recorded and shared between isolates. */
export interface AccountQuota {
  readonly account: string;
  readonly limit: number | null;
  readonly remaining: number | null;
  readonly window: number | null;
  /** When the reading was taken (ms); 0 = never. */
  readonly seenAt: number;
  /** Spent until then (ms): a 429, or none remaining; 0 = not exhausted. */
  readonly exhaustedUntil: number;
}

/** What one answer changed, for the log and the stats. */
export interface QuotaChange {
  readonly state: AccountQuota;
  /** The account fell below `LOW_QUOTA` of its limit with this answer. */
  readonly becameLow: boolean;
  /** This answer exhausted the account. */
  readonly becameExhausted: boolean;
  /** With this answer every account of the upstream is exhausted. */
  readonly allExhausted: boolean;
}

/** `100;w=21600` → 100 and 21600; null when it is not such a value. */
export function parseQuotaHeader(value: string | null): { count: number; window: number } | null {
  const match = /^\s*(\d{1,9})\s*(?:;\s*w\s*=\s*(\d{1,9}))?/.exec(value ?? "");
  if (!match?.[1]) return null;
  return { count: Number(match[1]), window: match[2] ? Number(match[2]) : 0 };
}

/** The reading of an answer's `ratelimit-limit` and `ratelimit-remaining`, or null when it has none. */
export function readQuota(headers: Headers): QuotaReading | null {
  const limit = parseQuotaHeader(headers.get("ratelimit-limit"));
  const remaining = parseQuotaHeader(headers.get("ratelimit-remaining"));
  if (!limit || !remaining) return null;
  return { limit: limit.count, remaining: remaining.count, window: remaining.window || limit.window };
}

/** Seconds of a numeric `Retry-After`, or of one given as an HTTP date; null otherwise. */
export function retryAfterSeconds(value: string | null, now: number): number | null {
  if (!value) return null;
  if (/^\s*\d{1,7}\s*$/.test(value)) return Number(value);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - now) / 1000));
}

interface Standing {
  limit: number | null;
  remaining: number | null;
  window: number | null;
  seenAt: number;
  exhaustedUntil: number;
  /** Counted requests sent since the last reading (spreads concurrent requests before answers arrive). */
  inFlight: number;
  lastChosen: number;
}

/**
 * The accounts of one upstream in one isolate. Choosing spreads counted requests by remaining quota
 * (an account never read counts as having the most), skips exhausted accounts until their time is up,
 * and takes turns among equals.
 */
export class QuotaBook {
  private readonly standings = new Map<string, Standing>();
  private turn = 0;

  constructor(
    /** Account names in configured order; [ANONYMOUS] when the upstream has none. */
    readonly accounts: readonly string[],
    private readonly now: () => number = Date.now,
  ) {
    for (const account of accounts) {
      this.standings.set(account, {
        limit: null,
        remaining: null,
        window: null,
        seenAt: 0,
        exhaustedUntil: 0,
        inFlight: 0,
        lastChosen: 0,
      });
    }
  }

  /**
   * The account for the next request; null when every account is exhausted. A counted request is
   * reckoned against the account until its answer arrives; an uncounted one takes the account with the
   * most quota, exhausted or not (it spends none).
   */
  choose(counted: boolean, except: ReadonlySet<string> = new Set()): string | null {
    const now = this.now();
    let best: { account: string; score: number; lastChosen: number } | null = null;
    for (const [account, standing] of this.standings) {
      if (except.has(account)) continue;
      const exhausted = standing.exhaustedUntil > now;
      if (counted && exhausted) continue;
      const score = exhausted
        ? Number.NEGATIVE_INFINITY
        : standing.remaining === null
          ? Number.POSITIVE_INFINITY
          : standing.remaining - standing.inFlight;
      if (!best || score > best.score || (score === best.score && standing.lastChosen < best.lastChosen)) {
        best = { account, score, lastChosen: standing.lastChosen };
      }
    }
    if (!best) return null;
    if (counted) {
      const standing = this.standings.get(best.account);
      if (standing) {
        standing.inFlight += 1;
        // A strictly increasing stamp: equals take turns even within one millisecond.
        standing.lastChosen = Math.max(now, this.turn + 1);
        this.turn = standing.lastChosen;
      }
    }
    return best.account;
  }

  /** A counted request chosen for `account` has its answer (or failed): it is no longer reckoned. */
  settle(account: string): void {
    const standing = this.standings.get(account);
    if (standing) standing.inFlight = Math.max(0, standing.inFlight - 1);
  }

  /** Whether an account outside `except` may take a counted request now. */
  hasAvailable(except: ReadonlySet<string>): boolean {
    const now = this.now();
    return [...this.standings].some(
      ([account, standing]) => !except.has(account) && standing.exhaustedUntil <= now,
    );
  }

  /** Takes in an answer to a request made as `account`. */
  observe(
    account: string,
    answer: { status: number; reading: QuotaReading | null; retryAfter: number | null },
  ): QuotaChange | null {
    const standing = this.standings.get(account);
    if (!standing) return null;
    // Only an answer with a reading speaks of the account's quota. A bare 429 is another limit (Docker
    // Hub's per-address abuse limit, or a registry's throttle): the client gets it, nothing is remembered.
    if (!answer.reading) return null;
    const now = this.now();
    const wasLow = isLow(standing);
    const wasExhausted = standing.exhaustedUntil > now;
    standing.limit = answer.reading.limit;
    standing.remaining = answer.reading.remaining;
    standing.window = answer.reading.window || standing.window;
    standing.seenAt = now;
    // A 429 is the end for now; a reading of 0 left means the next counted request gets one.
    if (answer.status === 429 || answer.reading.remaining <= 0) {
      const seconds = answer.retryAfter ?? (answer.reading.window || DEFAULT_BACKOFF_SECONDS);
      standing.exhaustedUntil = Math.max(
        standing.exhaustedUntil,
        now + Math.min(Math.max(seconds, 1), MAX_BACKOFF_SECONDS) * 1000,
      );
    } else {
      standing.exhaustedUntil = 0;
    }
    const exhausted = standing.exhaustedUntil > now;
    return {
      state: this.stateOf(account, standing),
      becameLow: !wasLow && isLow(standing),
      becameExhausted: !wasExhausted && exhausted,
      allExhausted: exhausted && this.allExhausted(),
    };
  }

  /** Readings other isolates recorded: each account takes the newer reading and the later exhaustion. */
  merge(shared: readonly AccountQuota[]): void {
    for (const entry of shared) {
      const standing = this.standings.get(entry.account);
      if (!standing) continue;
      if (entry.seenAt > standing.seenAt) {
        standing.limit = entry.limit;
        standing.remaining = entry.remaining;
        standing.window = entry.window;
        standing.seenAt = entry.seenAt;
      }
      standing.exhaustedUntil = Math.max(standing.exhaustedUntil, entry.exhaustedUntil);
    }
  }

  /** Whether any account has a reading. */
  hasReadings(): boolean {
    return [...this.standings.values()].some((standing) => standing.seenAt > 0);
  }

  allExhausted(): boolean {
    const now = this.now();
    return [...this.standings.values()].every((standing) => standing.exhaustedUntil > now);
  }

  /** When the first exhausted account may be asked again (ms); 0 when one may be asked now. */
  availableAt(): number {
    if (!this.allExhausted()) return 0;
    return Math.min(...[...this.standings.values()].map((standing) => standing.exhaustedUntil));
  }

  /**
   * Whether every account is below `reservePercent` of its limit (or exhausted): only then does the
   * mirror spare its quota. An account never read is not below anything.
   */
  belowReserve(reservePercent: number): boolean {
    if (reservePercent <= 0) return this.allExhausted();
    const now = this.now();
    return [...this.standings.values()].every(
      (standing) =>
        standing.exhaustedUntil > now ||
        (standing.remaining !== null &&
          standing.limit !== null &&
          standing.limit > 0 &&
          (standing.remaining - standing.inFlight) * 100 < standing.limit * reservePercent),
    );
  }

  /**
   * When quota is likely back (ms): the earliest end of an exhaustion, or of a window since a reading.
   * Null when nothing was ever read.
   */
  recoveryAt(): number | null {
    const times = [...this.standings.values()].map((standing) =>
      standing.exhaustedUntil > this.now()
        ? standing.exhaustedUntil
        : standing.seenAt > 0 && standing.window
          ? standing.seenAt + standing.window * 1000
          : null,
    );
    const known = times.filter((time): time is number => time !== null);
    return known.length > 0 ? Math.min(...known) : null;
  }

  states(): AccountQuota[] {
    return [...this.standings].map(([account, standing]) => this.stateOf(account, standing));
  }

  private stateOf(account: string, standing: Standing): AccountQuota {
    return {
      account,
      limit: standing.limit,
      remaining: standing.remaining,
      window: standing.window,
      seenAt: standing.seenAt,
      exhaustedUntil: standing.exhaustedUntil,
    };
  }
}

function isLow(standing: Standing): boolean {
  return (
    standing.remaining !== null &&
    standing.limit !== null &&
    standing.limit > 0 &&
    standing.remaining < standing.limit * LOW_QUOTA
  );
}

/**
 * The accounts of an upstream as this isolate knows them, and a way to bring in what other isolates
 * recorded (called before counted requests and reserve checks; it decides itself how often to ask).
 */
export interface QuotaPool {
  readonly book: QuotaBook;
  sync(): Promise<void>;
}

/** How long an isolate goes on its own readings before it asks what the others recorded. */
export const QUOTA_SYNC_MS = 15_000;
/** When nobody has read any quota of the upstream (GHCR and Quay send none), ask only this often. */
export const QUOTA_IDLE_SYNC_MS = 5 * 60_000;
/** A request waits this long at most for the shared readings; the load goes on without it. */
export const QUOTA_SYNC_WAIT_MS = 1000;

/**
 * A book that brings in the shared readings (`load`) at most every `QUOTA_SYNC_MS` (every
 * `QUOTA_IDLE_SYNC_MS` while there are none anywhere), one load at a time.
 */
export class SharedQuotaPool implements QuotaPool {
  readonly book: QuotaBook;
  private syncedAt = Number.NEGATIVE_INFINITY;
  private loading: Promise<void> | null = null;
  /** The last load found no reading, and neither has this isolate. */
  private nothingShared = false;

  constructor(
    accounts: readonly string[],
    private readonly load: (() => Promise<readonly AccountQuota[]>) | null,
    private readonly now: () => number = Date.now,
  ) {
    this.book = new QuotaBook(accounts, now);
  }

  sync(): Promise<void> {
    const idle = this.nothingShared && !this.book.hasReadings();
    if (!this.load || this.now() - this.syncedAt < (idle ? QUOTA_IDLE_SYNC_MS : QUOTA_SYNC_MS))
      return Promise.resolve();
    if (!this.loading) {
      const load = this.load;
      this.loading = (async () => {
        try {
          const shared = await load();
          this.book.merge(shared);
          this.nothingShared = shared.length === 0;
        } catch {
          // The stats object is out of reach: this isolate's own readings will do.
        } finally {
          this.syncedAt = this.now();
          this.loading = null;
        }
      })();
    }
    return atMost(this.loading, QUOTA_SYNC_WAIT_MS);
  }
}

/** `promise`, or nothing after `ms` (the promise goes on). */
async function atMost(promise: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
