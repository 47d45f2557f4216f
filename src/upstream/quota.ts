/**
 * What the mirror knows of an upstream's pull quota, per account, and which account to spend next.
 * Docker Hub counts manifest GETs per account (per IP when anonymous) over a rolling window and says
 * where one stands in `ratelimit-limit: 100;w=21600` and `ratelimit-remaining: 76;w=21600`; past the
 * limit it answers 429. Pure: the caller feeds it answers and the time.
 */

import type { QuotaReading } from "./quota-headers";

/** The name an anonymous account is shown and recorded under. */
export const ANONYMOUS = "anonymous";
/** Below this share of its limit an account is logged as running low. */
export const LOW_QUOTA = 0.1;
/** How long an exhausted account is left alone when the upstream names neither window nor `Retry-After`. */
const DEFAULT_BACKOFF_SECONDS = 60;
/** Upper bound of a remembered exhaustion, whatever an upstream says (Docker Hub's window is 6 h). */
const MAX_BACKOFF_SECONDS = 24 * 3600;
/** How long an upstream that refused the mirror's address (a bare 429) is left alone without `Retry-After`. */
const ADDRESS_BACKOFF_SECONDS = 60;
/** Upper bound of a remembered address refusal: an abuse limit is short, and a wrong header must not stop pulls for a day. */
const MAX_ADDRESS_BACKOFF_SECONDS = 3600;

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
  /** Until then (ms) the upstream refuses the mirror's address, whatever the account: nothing is sent. */
  private addressRefusedUntil = 0;

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
    const now = this.now();
    // Only an answer with a reading speaks of the account's quota. A bare 429 is another limit (Docker
    // Hub's per-address abuse limit, or a registry's throttle): every account comes from the same
    // address, so the upstream is left alone until its Retry-After, and the account's standing is kept.
    if (!answer.reading) {
      if (answer.status === 429) {
        const seconds = Math.min(
          Math.max(answer.retryAfter ?? ADDRESS_BACKOFF_SECONDS, 1),
          MAX_ADDRESS_BACKOFF_SECONDS,
        );
        this.addressRefusedUntil = Math.max(this.addressRefusedUntil, now + seconds * 1000);
      }
      return null;
    }
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

  /** When the upstream takes requests from the mirror's address again (ms); 0 when it does now. */
  refusedUntil(): number {
    if (this.addressRefusedUntil <= this.now()) this.addressRefusedUntil = 0;
    return this.addressRefusedUntil;
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
