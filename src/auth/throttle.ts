import { RegistryError } from "../oci/errors";
import { remembered } from "../util/remembered";

/**
 * Failed password checks allowed per client IP and per user name in one window. Each guess against a
 * hashed password costs a 100k-iteration PBKDF2, so this bounds both guessing and CPU burnt by it.
 * The `AUTH_FAILURES` binding in wrangler.toml carries the same numbers.
 */
export const AUTH_FAILURE_LIMIT = 10;
export const AUTH_FAILURE_WINDOW_MS = 60_000;
/** Keys one isolate remembers: sprayed user names must not grow memory without bound. */
const MAX_KEYS = 10_000;

interface Window {
  count: number;
  resetAt: number;
}

/** Failure counts in this isolate: a fixed window per key. */
export class FailureMemory {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly limit = AUTH_FAILURE_LIMIT,
    private readonly windowMs = AUTH_FAILURE_WINDOW_MS,
  ) {}

  /** Milliseconds until the key may try again; 0 when it may now. */
  blockedFor(key: string, now: number): number {
    const window = this.windows.get(key);
    if (!window || window.resetAt <= now || window.count < this.limit) return 0;
    return window.resetAt - now;
  }

  record(key: string, now: number): void {
    const window = this.current(key, now);
    window.count++;
  }

  /** The shared limiter says the key is over its budget: refuse it here for a whole window. */
  block(key: string, now: number): void {
    const window = this.current(key, now);
    window.count = Math.max(window.count, this.limit);
    window.resetAt = Math.max(window.resetAt, now + this.windowMs);
  }

  private current(key: string, now: number): Window {
    const known = this.windows.get(key);
    if (known && known.resetAt > now) return known;
    if (known) this.windows.delete(key);
    if (this.windows.size >= MAX_KEYS) this.evict(now);
    const fresh = { count: 0, resetAt: now + this.windowMs };
    this.windows.set(key, fresh);
    return fresh;
  }

  private evict(now: number): void {
    for (const [key, window] of this.windows) if (window.resetAt <= now) this.windows.delete(key);
    // Still full: drop the oldest (a Map iterates in insertion order).
    for (const key of this.windows.keys()) {
      if (this.windows.size < MAX_KEYS) break;
      this.windows.delete(key);
    }
  }
}

/** Who is trying: the client's address, and the user name they claim (null when none could be read). */
export interface Attempt {
  readonly ip: string;
  readonly user: string | null;
}

/**
 * Limits failed authentications per IP and per user name, checked BEFORE a password is hashed.
 *
 * Isolates share no memory, so failures also go to the Workers Rate Limiting binding when bound. Its
 * `limit()` counts every call and cannot be read without counting, so it is called only for failures;
 * when it answers "over", this isolate refuses the key for a window. Without the binding (tests, local
 * runs) the per-isolate counts alone apply.
 */
export class AuthThrottle {
  constructor(
    private readonly memory: FailureMemory,
    private readonly shared: RateLimit | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** Throws 429 TOOMANYREQUESTS (with Retry-After) when the IP or the user failed too often. */
  check(attempt: Attempt): void {
    const now = this.now();
    const wait = Math.max(...keysOf(attempt).map((key) => this.memory.blockedFor(key, now)));
    if (wait > 0) {
      throw new RegistryError(429, "TOOMANYREQUESTS", "too many failed authentications; try again later", {
        "Retry-After": String(Math.max(1, Math.ceil(wait / 1000))),
      });
    }
  }

  /** Records a failed check (wrong password, unknown user, unreadable credentials). */
  async failed(attempt: Attempt): Promise<void> {
    const now = this.now();
    const keys = keysOf(attempt);
    for (const key of keys) this.memory.record(key, now);
    const shared = this.shared;
    if (!shared) return;
    await Promise.all(
      keys.map(async (key) => {
        try {
          const { success } = await shared.limit({ key });
          if (!success) this.memory.block(key, this.now());
        } catch {
          // The shared limiter is unavailable: the per-isolate counts still apply.
        }
      }),
    );
  }
}

function keysOf(attempt: Attempt): string[] {
  const keys = [`authfail:ip:${attempt.ip.slice(0, 64)}`];
  // Valid user names are at most 64 characters; a longer claim still counts, under its first 64.
  if (attempt.user !== null) keys.push(`authfail:user:${attempt.user.slice(0, 64)}`);
  return keys;
}

/** One failure memory per isolate, per KV namespace binding (so one per test file in tests). */
const memories = new WeakMap<object, FailureMemory>();

export function failureMemoryFor(owner: object): FailureMemory {
  return remembered(memories, owner, () => new FailureMemory());
}
