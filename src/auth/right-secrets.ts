import { addressPrefix } from "../util/address-prefix";

/** How long an isolate remembers a secret that was right: a token's lifetime. */
const REMEMBER_MS = 5 * 60_000;
/** Right secrets an isolate remembers at most. */
const MAX_REMEMBERED = 10_000;

/**
 * Secrets this isolate has seen to be right, and checks under way. A client that logs in again with
 * the secret it used a minute ago needs no new hash and no count in the shared limiter (which cannot
 * give an attempt back), and parallel logins with the same secret (a CI job's concurrent pulls) share
 * one check. Secrets are held as HMACs under a key that never leaves this isolate, together with what
 * they were checked against (`scope`: a user's stored secret, the admin token), so a changed
 * configuration matches nothing remembered.
 */
export class RightSecrets {
  /** Fingerprint of a right secret → when it is forgotten. */
  private readonly right = new Map<string, number>();
  /** Fingerprint and client address → the check under way. */
  private readonly running = new Map<string, Promise<boolean>>();
  private readonly key: Promise<CryptoKey> = crypto.subtle.generateKey(
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  ) as Promise<CryptoKey>;

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Whether `candidate` is right for `name` against `scope`: true at once when it was right lately;
   * otherwise `check` (which counts the attempt) runs, once for all parallel callers with the same
   * secret from the same client address.
   */
  async verify(scope: string, name: string, candidate: string, ip: string, check: () => Promise<boolean>) {
    const print = await this.fingerprint(`${scope}\u0000${name}\u0000${candidate}`);
    const until = this.right.get(print);
    if (until !== undefined && until > this.now()) return true;
    const runningKey = `${print}\u0000${addressPrefix(ip)}`;
    const running = this.running.get(runningKey);
    if (running) return running;
    const run = check();
    this.running.set(runningKey, run);
    try {
      const right = await run;
      if (right) this.remember(print);
      return right;
    } finally {
      this.running.delete(runningKey);
    }
  }

  private remember(print: string): void {
    const right = this.right;
    const now = this.now();
    right.delete(print);
    if (right.size >= MAX_REMEMBERED) {
      for (const [key, until] of right) if (until <= now) right.delete(key);
      for (const key of right.keys()) {
        if (right.size < MAX_REMEMBERED) break;
        right.delete(key);
      }
    }
    right.set(print, now + REMEMBER_MS);
  }

  private async fingerprint(value: string): Promise<string> {
    const mac = await crypto.subtle.sign("HMAC", await this.key, new TextEncoder().encode(value));
    return btoa(String.fromCharCode(...new Uint8Array(mac)));
  }
}
