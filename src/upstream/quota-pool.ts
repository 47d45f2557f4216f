import type { UpstreamConfig } from "../config";
import { within } from "../util/within";
import { type AccountQuota, ANONYMOUS, QuotaBook } from "./quota";

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
    return within(this.loading, QUOTA_SYNC_WAIT_MS);
  }
}

/** The names a pool's accounts go by: the user names, or "anonymous" when the upstream has none. */
export function accountNames(upstream: Pick<UpstreamConfig, "accounts">): string[] {
  return upstream.accounts.length > 0 ? upstream.accounts.map((account) => account.username) : [ANONYMOUS];
}
