import { RegistryError } from "../oci/errors";
import { addressPrefix } from "../util/address-prefix";
import { remembered } from "../util/remembered";
import { RightSecrets } from "./right-secrets";

/**
 * Attempts at a secret allowed per client address and per user name in one window (right ones are
 * given back). Each guess against a hashed password costs a 100k-iteration PBKDF2, so this bounds both
 * guessing and CPU burnt by it.
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

/** Attempt counts in this isolate: a fixed window per key. */
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

  /**
   * Counts one attempt for every key at once, or for none when any is spent: returns the wait in
   * milliseconds then, else 0. Synchronous, so parallel attempts cannot all pass a check made before
   * any of them was counted.
   */
  reserve(keys: readonly string[], now: number): number {
    const wait = Math.max(0, ...keys.map((key) => this.blockedFor(key, now)));
    if (wait > 0) return wait;
    for (const key of keys) this.current(key, now).count++;
    return 0;
  }

  /** Gives back an attempt that succeeded (when its window is still the one it was counted in). */
  release(keys: readonly string[], now: number): void {
    for (const key of keys) {
      const window = this.windows.get(key);
      if (window && window.resetAt > now && window.count > 0) window.count--;
    }
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

/**
 * Who is trying: the client's address (counted per IPv4 address or IPv6 /64), and the name they claim
 * (null when none could be read, or when the secret has no user, like the admin token).
 */
export interface Attempt {
  readonly ip: string;
  readonly user: string | null;
}

/** A counted attempt; `succeeded` gives it back in this isolate (a right secret is no guess). */
export interface Reservation {
  succeeded(): void;
}

/**
 * Limits attempts at a secret (passwords, the admin token) per client address and per user name. An
 * attempt is counted BEFORE the secret is checked (and its password hashed), and given back when it
 * succeeds: so of N parallel wrong guesses at most the limit are ever checked, the rest get 429.
 *
 * Isolates share no memory, so attempts also go to the Workers Rate Limiting binding when bound, also
 * before the check. Its `limit()` counts every call and cannot give one back, so callers remember
 * secrets that were right (see SecretChecks) and do not come here for them again. When it answers
 * "over", this isolate refuses the key for a window. Without the binding (tests, local runs) the
 * per-isolate counts alone apply.
 */
export class AuthThrottle {
  constructor(
    private readonly memory: FailureMemory,
    private readonly shared: RateLimit | undefined,
    private readonly secrets: RightSecrets = new RightSecrets(),
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Checks a secret under the throttle: 429 when the address or the user is over its limit (even for
   * the right secret, so a blocked client learns nothing); a secret that was right lately passes at
   * once; any other is counted, then checked (`check`, e.g. a password hash), and given back if right.
   * `scope` is what the secret is checked against (a user's stored secret, the admin token), so that
   * RightSecrets forgets it when the configuration changes.
   */
  async verify(attempt: Attempt, scope: string, candidate: string, check: () => Promise<boolean>) {
    this.check(attempt);
    return this.secrets.verify(scope, attempt.user ?? "", candidate, attempt.ip, async () => {
      const reservation = await this.reserve(attempt);
      const right = await check();
      if (right) reservation.succeeded();
      return right;
    });
  }

  /** Throws 429 TOOMANYREQUESTS (with Retry-After) when the address or the user is over its limit. */
  check(attempt: Attempt): void {
    const now = this.now();
    const wait = Math.max(...keysOf(attempt).map((key) => this.memory.blockedFor(key, now)));
    if (wait > 0) throw tooMany(wait);
  }

  /**
   * Counts an attempt before its secret is checked; throws 429 when the address or the user is over
   * its limit here or in the shared limiter (and then nothing may be checked).
   */
  async reserve(attempt: Attempt): Promise<Reservation> {
    const keys = keysOf(attempt);
    const wait = this.memory.reserve(keys, this.now());
    if (wait > 0) throw tooMany(wait);
    const shared = this.shared;
    if (shared) {
      const over = await Promise.all(
        keys.map(async (key) => {
          try {
            const { success } = await shared.limit({ key });
            if (!success) this.memory.block(key, this.now());
            return !success;
          } catch {
            // The shared limiter is unavailable: the per-isolate counts still apply.
            return false;
          }
        }),
      );
      if (over.some(Boolean)) throw tooMany(AUTH_FAILURE_WINDOW_MS);
    }
    return { succeeded: () => this.memory.release(keys, this.now()) };
  }

  /** Counts an attempt known to fail without any check (unreadable credentials); 429 when over. */
  async failed(attempt: Attempt): Promise<void> {
    await this.reserve(attempt);
  }
}

function tooMany(waitMs: number): RegistryError {
  return new RegistryError(429, "TOOMANYREQUESTS", "too many failed authentications; try again later", {
    "Retry-After": String(Math.max(1, Math.ceil(waitMs / 1000))),
  });
}

function keysOf(attempt: Attempt): string[] {
  const keys = [`authfail:ip:${addressPrefix(attempt.ip)}`];
  // Valid user names are at most 64 characters; a longer claim still counts, under its first 64.
  if (attempt.user !== null) keys.push(`authfail:user:${attempt.user.slice(0, 64)}`);
  return keys;
}

/** One throttle memory per isolate, per KV namespace binding (so one per test file in tests). */
const memories = new WeakMap<object, { failures: FailureMemory; secrets: RightSecrets }>();

/** The throttle of this isolate (its counts and right secrets), over the shared limiter when bound. */
export function throttleFor(owner: object, shared: RateLimit | undefined): AuthThrottle {
  const memory = remembered(memories, owner, () => ({
    failures: new FailureMemory(),
    secrets: new RightSecrets(),
  }));
  return new AuthThrottle(memory.failures, shared, memory.secrets);
}
