import type { Credentials, UpstreamConfig } from "../config";
import { RegistryError } from "../oci/errors";
import { readLimited } from "../util/streams";
import { type Challenge, parseChallenges } from "./challenge";
import { unreachable } from "./errors";
import { realmRefusal } from "./realm";
import { type Fetcher, fetchFollowingRedirects } from "./redirects";
import type { TokenCache, TokenKey } from "./tokens";

export const USER_AGENT = "edge-registry-mirror";
const DEFAULT_TOKEN_LIFETIME_SECONDS = 60;
const TOKEN_RESPONSE_LIMIT = 64 * 1024;

/** An account as one request uses it. */
export interface Account {
  /** The user name, or "anonymous". */
  readonly name: string;
  readonly credentials: Credentials | null;
  /** The request counts against the account's quota. */
  readonly counted: boolean;
}

/** A token request's answer, for the audit log and the stats. */
export type TokenObserver = (account: string, status: number) => void;

/**
 * The `Authorization` an upstream wants, as go-containerregistry's transport layers do it: what to send
 * before any challenge (Basic, or a cached token), and the answer to a 401's challenge (a Bearer token
 * from a realm the mirror trusts, or Basic). Realm validation lives here and nowhere else.
 */
export class UpstreamAuth {
  constructor(
    private readonly upstream: UpstreamConfig,
    private readonly tokens: TokenCache,
    /** The upstream's fetcher, bounded by its timeout. */
    private readonly fetcher: Fetcher,
    private readonly observe: TokenObserver,
  ) {}

  /** Credentials to send before any challenge: Basic if the upstream wants it, else a cached token. */
  async cached(scope: string, as: Account): Promise<string | null> {
    const known = this.tokens.knownChallenge(this.upstream.url);
    if (!known) return null;
    if (known.scheme === "basic") return as.credentials ? basic(as.credentials) : null;
    const token = await this.tokens.get(this.tokenKey(known.realm, known.service, scope, as));
    return token ? `Bearer ${token}` : null;
  }

  /**
   * Credentials that answer the challenge of a 401, or null when we cannot answer it (the 401 stands).
   * The caller consumes the 401's body.
   */
  answer(challengeHeader: string | null, scope: string, as: Account): Promise<string | null> {
    return this.answerChallenge(parseChallenges(challengeHeader ?? ""), scope, as);
  }

  private async answerChallenge(challenges: Challenge[], scope: string, as: Account): Promise<string | null> {
    const bearer = challenges.find((challenge) => challenge.scheme === "bearer");
    if (bearer?.params.realm) {
      this.checkRealm(bearer.params.realm);
      const service = bearer.params.service ?? "";
      this.tokens.rememberChallenge(this.upstream.url, {
        scheme: "bearer",
        realm: bearer.params.realm,
        service,
      });
      const token = await this.fetchToken(this.tokenKey(bearer.params.realm, service, scope, as), as);
      return token ? `Bearer ${token}` : null;
    }
    if (challenges.some((challenge) => challenge.scheme === "basic")) {
      this.tokens.rememberChallenge(this.upstream.url, { scheme: "basic" });
      return as.credentials ? basic(as.credentials) : null;
    }
    return null;
  }

  /**
   * Refuses a realm outside the upstream's domain and `authHosts` (or over plain http for an https
   * upstream) before it is remembered or asked: the credentials would go wherever it points.
   */
  private checkRealm(realm: string): void {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw this.untrustedRealm("it is not a URL");
    }
    const refusal = realmRefusal(url, this.upstream);
    if (refusal) throw this.untrustedRealm(refusal, url.host);
  }

  private untrustedRealm(reason: string, host?: string): RegistryError {
    const prefix = this.upstream.prefix;
    return new RegistryError(
      502,
      "UNAVAILABLE",
      `upstream "${prefix}" named a token realm${host ? ` on ${host}` : ""} the mirror does not trust: ${reason}` +
        ` (list the realm's host in UPSTREAMS.${prefix}.authHosts if it belongs to the upstream)`,
    );
  }

  /** `GET realm?service=…&scope=…`, with Basic credentials when configured; caches the token. */
  private async fetchToken(key: TokenKey, as: Account): Promise<string | null> {
    // Checked again here, so no path to a realm skips the policy.
    this.checkRealm(key.realm);
    const realm = new URL(key.realm);
    if (key.service) realm.searchParams.set("service", key.service);
    realm.searchParams.append("scope", key.scope);

    const authorization = as.credentials ? basic(as.credentials) : null;
    let response: Response;
    try {
      response = await fetchFollowingRedirects(this.fetcher, realm, {
        method: "GET",
        headers: new Headers({ "User-Agent": USER_AGENT, Accept: "application/json" }),
        authorization,
        authorizedOrigin: realm.origin,
      });
    } catch {
      throw unreachable(this.upstream.prefix);
    }
    this.observe(as.name, response.status);
    if (!response.ok) {
      await response.body?.cancel();
      if (response.status === 429) {
        throw new RegistryError(
          429,
          "TOOMANYREQUESTS",
          `token service of upstream "${this.upstream.prefix}": too many requests`,
          {
            "Retry-After": response.headers.get("Retry-After") ?? "60",
          },
        );
      }
      return null; // The original 401 stands: the client gets the mirror's challenge or DENIED.
    }
    const token = await readToken(response);
    if (!token) {
      throw new RegistryError(
        502,
        "UNAVAILABLE",
        `token service of upstream "${this.upstream.prefix}" sent no token`,
      );
    }
    await this.tokens.put(key, token.value, token.expiresIn);
    return token.value;
  }

  /** Tokens are kept per account and scope: each account's token counts against that account. */
  private tokenKey(realm: string, service: string, scope: string, as: Account): TokenKey {
    return {
      upstream: this.upstream.url,
      realm,
      service,
      scope,
      username: as.credentials?.username ?? "",
    };
  }
}

function basic(credentials: Credentials): string {
  const bytes = new TextEncoder().encode(`${credentials.username}:${credentials.password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

async function readToken(response: Response): Promise<{ value: string; expiresIn: number } | null> {
  if (!response.body) return null;
  try {
    const parsed: unknown = JSON.parse(
      new TextDecoder().decode(await readLimited(response.body, TOKEN_RESPONSE_LIMIT)),
    );
    if (!parsed || typeof parsed !== "object") return null;
    const record = parsed as Record<string, unknown>;
    const value = typeof record.token === "string" && record.token ? record.token : record.access_token;
    if (typeof value !== "string" || !value) return null;
    const expiresIn =
      typeof record.expires_in === "number" && record.expires_in > 0
        ? record.expires_in
        : DEFAULT_TOKEN_LIFETIME_SECONDS;
    return { value, expiresIn };
  } catch {
    return null;
  }
}
