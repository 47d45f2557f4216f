/**
 * Which upstreams have no referrers API, as this isolate last found: asking the API first would cost
 * every referrers request two upstream requests where the tag schema's HEAD alone answers. A finding is
 * kept a while, then the API is asked again (an upstream may gain it).
 */
export class ReferrersSupport {
  /** Upstream prefix → until when (ms) it is taken to have no referrers API. */
  private readonly absentUntil = new Map<string, number>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly keepMs = REMEMBER_ABSENT_MS,
  ) {}

  hasNoApi(upstream: string): boolean {
    const until = this.absentUntil.get(upstream);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.absentUntil.delete(upstream);
    return false;
  }

  foundNoApi(upstream: string): void {
    this.absentUntil.set(upstream, this.now() + this.keepMs);
  }

  foundApi(upstream: string): void {
    this.absentUntil.delete(upstream);
  }
}

/** How long an upstream without a referrers API is not asked for it again. */
export const REMEMBER_ABSENT_MS = 15 * 60_000;
