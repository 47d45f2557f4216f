import { toHex } from "../oci/digest";

/**
 * Upstream bearer tokens, cached per upstream + realm + service + scope + credential until shortly before
 * they expire: in memory for this isolate, and in an optional shared store so other isolates reuse them.
 */
export interface TokenStore {
  get(key: string): Promise<string | null>;
  put(key: string, token: string, ttlSeconds: number): Promise<void>;
}

export interface TokenKey {
  readonly upstream: string;
  readonly realm: string;
  readonly service: string;
  readonly scope: string;
  /** The username the token was obtained with; "" for anonymous. Never the password. */
  readonly username: string;
}

/** Tokens are dropped this long before they expire, so none expires in flight. */
const EXPIRY_MARGIN_SECONDS = 10;
/** A shared store that cannot keep entries shorter than this (KV's minimum TTL) gets only longer-lived tokens. */
const MIN_SHARED_TTL_SECONDS = 60;
const MAX_MEMORY_ENTRIES = 1000;

/** How an upstream last challenged us, so later requests can send cached credentials at once. */
export type KnownChallenge =
  | { readonly scheme: "bearer"; readonly realm: string; readonly service: string }
  | { readonly scheme: "basic" };

/** Runs a task after the caller has moved on (a Worker's `waitUntil`); the task never rejects. */
export type Background = (task: Promise<void>) => void;

/** Without a `waitUntil` to hand, the task simply runs on. */
const runOn: Background = (task) => {
  task.catch(() => {});
};

export class TokenCache {
  private readonly memory = new Map<string, { token: string; expiresAt: number }>();
  private readonly challenges = new Map<string, KnownChallenge>();

  constructor(
    private readonly shared?: TokenStore,
    private readonly now: () => number = Date.now,
    /** Where shared-store writes run: a request never waits for one, and a failed one only costs a token exchange elsewhere. */
    private readonly background: Background = runOn,
    private readonly onWriteFailed: (error: unknown) => void = () => {},
  ) {}

  async get(key: TokenKey): Promise<string | null> {
    const id = await cacheId(key);
    const entry = this.memory.get(id);
    if (entry && entry.expiresAt > this.now()) return entry.token;
    this.memory.delete(id);
    return (await this.shared?.get(id)) ?? null;
  }

  async put(key: TokenKey, token: string, expiresInSeconds: number): Promise<void> {
    const ttl = expiresInSeconds - Math.min(EXPIRY_MARGIN_SECONDS, expiresInSeconds / 10);
    if (ttl <= 0) return;
    const id = await cacheId(key);
    if (this.memory.size >= MAX_MEMORY_ENTRIES) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = this.memory.keys().next().value;
      if (oldest !== undefined) this.memory.delete(oldest);
    }
    this.memory.set(id, { token, expiresAt: this.now() + ttl * 1000 });
    if (this.shared && ttl >= MIN_SHARED_TTL_SECONDS) {
      const written = this.shared.put(id, token, Math.floor(ttl));
      this.background(written.catch((error: unknown) => this.onWriteFailed(error)));
    }
  }

  /** Registries use one realm and service for all repositories: remember the challenge per upstream. */
  rememberChallenge(upstream: string, challenge: KnownChallenge): void {
    this.challenges.set(upstream, challenge);
  }

  knownChallenge(upstream: string): KnownChallenge | undefined {
    return this.challenges.get(upstream);
  }

  async delete(key: TokenKey): Promise<void> {
    this.memory.delete(await cacheId(key));
  }
}

/** A stable, opaque id: the parts are hashed so no username or scope appears in a storage key. */
async function cacheId(key: TokenKey): Promise<string> {
  const text = [key.upstream, key.realm, key.service, key.scope, key.username].join("\n");
  return toHex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}
