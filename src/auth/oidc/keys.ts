import { createLocalJWKSet, errors, type FlattenedJWSInput, type JWSHeaderParameters } from "jose";
import { BodyTooLargeError, readLimited } from "../../util/streams";
import { isHttpsOrLoopback } from "../../util/trusted-url";
import type { OidcIssuer } from "./config";

/** How the keys are fetched: `fetch` in the Worker, a fake in tests. */
export type Fetcher = (url: string, init: RequestInit) => Promise<Response>;

/** An issuer's documents are fetched at most this often, whatever tokens arrive (unknown `kid`s). */
export const MIN_FETCH_INTERVAL_MS = 60_000;
/** How long keys are kept when the JWKS response says nothing (`Cache-Control: max-age`). */
export const DEFAULT_KEYS_LIFETIME_MS = 10 * 60_000;
const MAX_KEYS_LIFETIME_MS = 24 * 3_600_000;
export const FETCH_TIMEOUT_MS = 5_000;
/** A discovery document or JWKS is a few kilobytes; more is refused unread. */
export const MAX_DOCUMENT_BYTES = 64 * 1024;

type KeySelector = ReturnType<typeof createLocalJWKSet>;

/** The issuer's keys cannot be had: none cached, and fetching them failed (or may not be retried yet). */
export class KeysUnavailableError extends Error {
  override name = "KeysUnavailableError";
}

/**
 * One issuer's signing keys, as this isolate knows them. Kept for the JWKS's cache lifetime (at least
 * the fetch interval, at most a day); a token naming a `kid` the set lacks refetches it, but the
 * issuer is asked at most once per MIN_FETCH_INTERVAL_MS, so a flood of made-up `kid`s costs it
 * nothing. A fetch that fails keeps the keys already known.
 */
export class IssuerKeys {
  private keys: { readonly select: KeySelector; readonly expiresAt: number } | null = null;
  private lastFetchAt = Number.NEGATIVE_INFINITY;
  private refreshing: Promise<void> | null = null;
  /** From the discovery document; forgotten when a JWKS fetch fails (the issuer may have moved it). */
  private discoveredJwksUrl: string | null = null;
  /** Why the last fetch failed (a short description, no document contents), for the audit line. */
  lastError: string | null = null;

  constructor(
    private readonly issuer: OidcIssuer,
    private readonly fetcher: Fetcher,
    private readonly now: () => number = Date.now,
    private readonly timeoutMs = FETCH_TIMEOUT_MS,
  ) {}

  /** The key for a token's header (jose's key callback). */
  async key(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> {
    if (!this.keys || this.now() >= this.keys.expiresAt) await this.refresh();
    const known = this.keys;
    if (!known) throw new KeysUnavailableError(this.lastError ?? "no keys");
    try {
      return await known.select(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || !this.mayFetch()) throw error;
      // A key the set lacks: the issuer may have rotated in a new one since it was fetched.
      await this.refresh();
      if (!this.keys || this.keys === known) throw error;
      return this.keys.select(header, token);
    }
  }

  private mayFetch(): boolean {
    return this.now() - this.lastFetchAt >= MIN_FETCH_INTERVAL_MS;
  }

  /** Fetches the keys unless that was done within the interval; concurrent callers share one fetch. */
  private refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    if (!this.mayFetch()) return Promise.resolve();
    this.lastFetchAt = this.now();
    this.refreshing = this.load()
      .then(
        (keys) => {
          this.keys = keys;
          this.lastError = null;
        },
        (error: unknown) => {
          this.lastError = error instanceof Error ? error.message : "fetch failed";
          this.discoveredJwksUrl = null;
        },
      )
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  private async load(): Promise<{ select: KeySelector; expiresAt: number }> {
    const url = this.issuer.jwksUrl ?? (await this.jwksUrlFromDiscovery());
    const { body, maxAgeMs } = await this.fetchJson(url);
    const keys =
      typeof body === "object" && body !== null && Array.isArray((body as { keys?: unknown }).keys)
        ? ((body as { keys: unknown[] }).keys.filter(isPublicSigningKey) as JsonWebKey[])
        : null;
    if (!keys) throw new Error("the JWKS has no keys array");
    const lifetime = Math.min(
      Math.max(maxAgeMs ?? DEFAULT_KEYS_LIFETIME_MS, MIN_FETCH_INTERVAL_MS),
      MAX_KEYS_LIFETIME_MS,
    );
    return { select: createLocalJWKSet({ keys }), expiresAt: this.now() + lifetime };
  }

  private async jwksUrlFromDiscovery(): Promise<string> {
    if (this.discoveredJwksUrl) return this.discoveredJwksUrl;
    const { body } = await this.fetchJson(
      `${this.issuer.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`,
    );
    const document = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
    // OpenID Connect Discovery: the document must name the very issuer it was fetched for.
    if (document.issuer !== this.issuer.issuer)
      throw new Error("the discovery document names another issuer");
    const jwksUrl = document.jwks_uri;
    if (
      typeof jwksUrl !== "string" ||
      !isHttpsOrLoopback(jwksUrl) ||
      !sameSecurity(jwksUrl, this.issuer.issuer)
    ) {
      throw new Error("the discovery document's jwks_uri is missing or not https");
    }
    this.discoveredJwksUrl = jwksUrl;
    return jwksUrl;
  }

  private async fetchJson(url: string): Promise<{ body: unknown; maxAgeMs: number | null }> {
    let response: Response;
    try {
      response = await this.fetcher(url, {
        headers: { Accept: "application/json" },
        // A redirect could lead anywhere, plain http included: the documents must be where they are said to be.
        redirect: "manual",
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch {
      throw new Error(`${new URL(url).host} could not be reached`);
    }
    if (response.status !== 200 || !response.body) {
      await response.body?.cancel().catch(() => {});
      throw new Error(`${new URL(url).host} answered ${response.status}`);
    }
    const declared = Number(response.headers.get("Content-Length") ?? "0");
    let bytes: Uint8Array;
    try {
      if (declared > MAX_DOCUMENT_BYTES) throw new BodyTooLargeError("declared too large");
      bytes = await readLimited(response.body, MAX_DOCUMENT_BYTES);
    } catch (error) {
      await response.body.cancel().catch(() => {});
      throw new Error(
        error instanceof BodyTooLargeError
          ? `${new URL(url).host} sent more than ${MAX_DOCUMENT_BYTES} bytes`
          : `${new URL(url).host} stopped sending`,
      );
    }
    try {
      return { body: JSON.parse(new TextDecoder().decode(bytes)), maxAgeMs: maxAgeOf(response.headers) };
    } catch {
      throw new Error(`${new URL(url).host} sent something other than JSON`);
    }
  }
}

/** Asymmetric public keys only: an issuer never publishes a shared secret, and a private key is a leak. */
function isPublicSigningKey(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  const key = value as Record<string, unknown>;
  return (key.kty === "RSA" || key.kty === "EC" || key.kty === "OKP") && key.d === undefined;
}

/** An https issuer's keys come over https too; http is for a loopback issuer only. */
function sameSecurity(url: string, issuer: string): boolean {
  return new URL(url).protocol === "https:" || new URL(issuer).protocol === "http:";
}

function maxAgeOf(headers: Headers): number | null {
  const match = /(?:^|,)\s*max-age\s*=\s*"?(\d{1,9})"?/i.exec(headers.get("Cache-Control") ?? "");
  return match ? Number(match[1]) * 1000 : null;
}
