/**
 * Platform operations (subrequests: R2, KV and Durable Object calls) one invocation may still make.
 * Workers allow ~1,000 subrequests per invocation on the paid plan: long jobs (retention, purge) take
 * what fits and leave the rest to the next run.
 */
export class OpBudget {
  private spent = 0;

  constructor(readonly limit: number) {}

  get left(): number {
    return this.limit - this.spent;
  }

  /** Spends `n` operations if they all fit; says whether they did. */
  take(n = 1): boolean {
    if (n > this.left) return false;
    this.spent += n;
    return true;
  }
}

/** What an admin call may spend: under the ~1,000 subrequests, with room for auth, stats and logging. */
export const ADMIN_OPERATIONS = 900;
