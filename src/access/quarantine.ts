import { RegistryError } from "../oci/errors";
import { within } from "../util/within";

/** A quarantined digest: refused to every client and repository, with the reason given. */
export interface QuarantineEntry {
  readonly digest: string;
  readonly reason: string;
  /** ISO 8601, when it was quarantined. */
  readonly since: string;
}

/** The whole list as the stats object holds it, with the version it was at. */
export interface QuarantineSnapshot {
  readonly version: number;
  readonly entries: readonly QuarantineEntry[];
}

/** Reads the list when its version differs from `known` (null: unchanged, nothing to send). */
export type QuarantineLoad = (known: number | null) => Promise<QuarantineSnapshot | null>;

/**
 * How often an isolate asks for the list: a change reaches every isolate within this long, and each asks
 * at most once in it (no storage read per request).
 */
export const QUARANTINE_REFRESH_MS = 60_000;
/** A request waits this long at most for the list; the load goes on, and the list it had stands. */
export const QUARANTINE_WAIT_MS = 2000;
/** A reason is shown to clients in the error message: short, one line. */
export const MAX_REASON_LENGTH = 500;

/**
 * The quarantine as one isolate knows it: the list, refreshed at most every `QUARANTINE_REFRESH_MS`
 * (one load at a time, awaited by the request that finds it due, at most `QUARANTINE_WAIT_MS`), so a
 * change made anywhere is enforced here within a minute. A change made through this isolate applies at
 * once. When the list cannot be read, the one it had stands: storage trouble never fails a pull.
 */
export class Quarantine {
  private entries = new Map<string, QuarantineEntry>();
  private version: number | null = null;
  private loadedAt = Number.NEGATIVE_INFINITY;
  private loading: Promise<void> | null = null;

  constructor(
    private readonly load: QuarantineLoad | null,
    // Read at each call (not `Date.now` kept once), so a test's fake clock moves it.
    private readonly now: () => number = () => Date.now(),
    private readonly waitMs = QUARANTINE_WAIT_MS,
  ) {}

  /** Refuses a quarantined digest: `403 DENIED` with the reason. */
  async check(digest: string): Promise<void> {
    await this.refreshIfDue();
    const entry = this.entries.get(digest);
    if (entry) throw quarantined(entry);
  }

  /** The entry for a digest, as this isolate knows it now. */
  async entry(digest: string): Promise<QuarantineEntry | null> {
    await this.refreshIfDue();
    return this.entries.get(digest) ?? null;
  }

  /** A change made through this isolate: enforced here at once (others see it at their next refresh). */
  applied(digest: string, entry: QuarantineEntry | null): void {
    if (entry) this.entries.set(digest, entry);
    else this.entries.delete(digest);
  }

  private refreshIfDue(): Promise<void> {
    if (!this.load || this.now() - this.loadedAt < QUARANTINE_REFRESH_MS) return Promise.resolve();
    if (!this.loading) {
      const load = this.load;
      this.loading = (async () => {
        try {
          const snapshot = await load(this.version);
          if (snapshot) {
            this.entries = new Map(snapshot.entries.map((entry) => [entry.digest, entry]));
            this.version = snapshot.version;
          }
        } catch {
          // The stats object is out of reach: the list this isolate had stands until the next try.
        } finally {
          this.loadedAt = this.now();
          this.loading = null;
        }
      })();
    }
    return within(this.loading, this.waitMs);
  }
}

export function quarantined(entry: QuarantineEntry): RegistryError {
  return new RegistryError(403, "DENIED", `${entry.digest} is quarantined: ${entry.reason}`);
}

/** A reason an operator may give: one line of printable text, 1 to `MAX_REASON_LENGTH` characters. */
export function isValidReason(reason: unknown): reason is string {
  return (
    typeof reason === "string" &&
    reason.trim().length > 0 &&
    reason.length <= MAX_REASON_LENGTH &&
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    !/[\u0000-\u001f\u007f]/.test(reason)
  );
}
