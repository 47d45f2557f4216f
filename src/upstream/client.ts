import type { Credentials, UpstreamConfig } from "../config";
import { RegistryError } from "../oci/errors";
import { readLimited } from "../util/streams";
import { type Challenge, parseChallenges } from "./challenge";
import { type UpstreamObject, unreachable, upstreamError } from "./errors";
import { realmRefusal } from "./realm";
import { type Fetcher, fetchFollowingRedirects } from "./redirects";
import type { TokenCache, TokenKey } from "./tokens";

export type { Fetcher };

/** One answer from an upstream, as the stats count it. */
export interface UpstreamEvent {
  readonly kind: "token" | "manifest" | "blob" | "other";
  readonly method: "GET" | "HEAD";
  readonly status: number;
  /** Docker Hub's `ratelimit-limit` / `ratelimit-remaining`, when sent. */
  readonly rateLimit?: { readonly limit: string; readonly remaining: string };
}

function observed(path: string, response: Response, method: "GET" | "HEAD" = "GET"): UpstreamEvent {
  const kind = path.startsWith("manifests/") ? "manifest" : path.startsWith("blobs/") ? "blob" : "other";
  const limit = response.headers.get("ratelimit-limit");
  const remaining = response.headers.get("ratelimit-remaining");
  return {
    kind,
    method,
    status: response.status,
    ...(limit !== null && remaining !== null
      ? { rateLimit: { limit: limit.slice(0, 64), remaining: remaining.slice(0, 64) } }
      : {}),
  };
}

export interface UpstreamRequest {
  /** Repository name as the upstream knows it (with `library/` where needed). */
  readonly name: string;
  /** Path below `/v2/<name>/`, e.g. `manifests/latest` or `blobs/sha256:…`. */
  readonly path: string;
  readonly method: "GET" | "HEAD";
  readonly headers?: Readonly<Record<string, string>>;
  readonly query?: URLSearchParams;
}

const USER_AGENT = "edge-registry-mirror";
const DEFAULT_TOKEN_LIFETIME_SECONDS = 60;
const TOKEN_RESPONSE_LIMIT = 64 * 1024;

/**
 * Talks to one upstream registry: attaches cached credentials, answers a 401 challenge once (a Bearer
 * token from the realm, or Basic), and follows redirects itself so credentials never leave the
 * upstream's origin. Returns the upstream's final response; judging its status is the caller's job.
 */
export class RegistryClient {
  private readonly origin: string;

  constructor(
    readonly upstream: UpstreamConfig,
    private readonly tokens: TokenCache,
    private readonly fetcher: Fetcher = (request) => fetch(request),
    /** Told of every upstream answer (for the audit log and the stats). */
    private readonly observe: (event: UpstreamEvent) => void = () => {},
  ) {
    this.origin = new URL(upstream.url).origin;
  }

  /**
   * The fetcher, bounded by the upstream's timeout until the response headers arrive (not for the body:
   * a large blob may take long to stream).
   */
  private readonly timed: Fetcher = async (request) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.upstream.timeout * 1000);
    try {
      return await this.fetcher(new Request(request, { signal: controller.signal }));
    } finally {
      clearTimeout(timer);
    }
  };

  get authenticated(): boolean {
    return this.upstream.credentials !== undefined;
  }

  /** The client's error for a failed answer about `object` in repository `name`. */
  errorFor(response: Response, name: string, object: UpstreamObject): Promise<RegistryError> {
    return upstreamError(response, {
      upstream: this.upstream.prefix,
      name,
      object,
      authenticated: this.authenticated,
    });
  }

  async request(request: UpstreamRequest): Promise<Response> {
    const url = new URL(`${this.upstream.url}/v2/${request.name}/${request.path}`);
    for (const [key, value] of request.query ?? []) url.searchParams.append(key, value);
    const scope = `repository:${request.name}:pull`;

    const first = await this.send(url, request, await this.cachedAuthorization(scope));
    if (first.status !== 401) return first;

    // A missing or expired token, or a first contact: answer the challenge with fresh credentials, once.
    // Only the upstream's own origin gets here: a redirect target's 401 was thrown as an upstream error.
    let authorization: string | null;
    try {
      authorization = await this.answerChallenge(
        parseChallenges(first.headers.get("WWW-Authenticate") ?? ""),
        scope,
      );
    } catch (error) {
      await first.body?.cancel();
      throw error;
    }
    if (authorization === null) return first;
    await first.body?.cancel();
    return this.send(url, request, authorization);
  }

  private async send(url: URL, request: UpstreamRequest, authorization: string | null): Promise<Response> {
    const headers = new Headers(request.headers);
    headers.set("User-Agent", USER_AGENT);
    try {
      const response = await fetchFollowingRedirects(this.timed, url, {
        method: request.method,
        headers,
        authorization,
        authorizedOrigin: this.origin,
      });
      this.observe(observed(request.path, response, request.method));
      return response;
    } catch (error) {
      if (error instanceof RegistryError) throw error;
      throw unreachable(this.upstream.prefix);
    }
  }

  /** Credentials to send before any challenge: Basic if the upstream wants it, else a cached token. */
  private async cachedAuthorization(scope: string): Promise<string | null> {
    const known = this.tokens.knownChallenge(this.upstream.url);
    if (!known) return null;
    if (known.scheme === "basic") return this.upstream.credentials ? basic(this.upstream.credentials) : null;
    const token = await this.tokens.get(this.tokenKey(known.realm, known.service, scope));
    return token ? `Bearer ${token}` : null;
  }

  /** Credentials that answer the challenge, or null when we cannot answer it (the 401 stands). */
  private async answerChallenge(challenges: Challenge[], scope: string): Promise<string | null> {
    const bearer = challenges.find((challenge) => challenge.scheme === "bearer");
    if (bearer?.params.realm) {
      this.checkRealm(bearer.params.realm);
      const service = bearer.params.service ?? "";
      this.tokens.rememberChallenge(this.upstream.url, {
        scheme: "bearer",
        realm: bearer.params.realm,
        service,
      });
      const token = await this.fetchToken(this.tokenKey(bearer.params.realm, service, scope));
      return token ? `Bearer ${token}` : null;
    }
    if (challenges.some((challenge) => challenge.scheme === "basic")) {
      this.tokens.rememberChallenge(this.upstream.url, { scheme: "basic" });
      return this.upstream.credentials ? basic(this.upstream.credentials) : null;
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
  private async fetchToken(key: TokenKey): Promise<string | null> {
    // Checked again here, so no path to a realm skips the policy.
    this.checkRealm(key.realm);
    const realm = new URL(key.realm);
    if (key.service) realm.searchParams.set("service", key.service);
    realm.searchParams.append("scope", key.scope);

    const authorization = this.upstream.credentials ? basic(this.upstream.credentials) : null;
    let response: Response;
    try {
      response = await fetchFollowingRedirects(this.timed, realm, {
        method: "GET",
        headers: new Headers({ "User-Agent": USER_AGENT, Accept: "application/json" }),
        authorization,
        authorizedOrigin: realm.origin,
      });
    } catch {
      throw unreachable(this.upstream.prefix);
    }
    this.observe({ kind: "token", method: "GET", status: response.status });
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

  private tokenKey(realm: string, service: string, scope: string): TokenKey {
    return {
      upstream: this.upstream.url,
      realm,
      service,
      scope,
      username: this.upstream.credentials?.username ?? "",
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
