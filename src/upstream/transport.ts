import type { Credentials, UpstreamConfig } from "../config";
import { RegistryError } from "../oci/errors";
import { type Account, UpstreamAuth, USER_AGENT } from "./auth";
import { type UpstreamObject, unreachable, upstreamError } from "./errors";
import { QuotaBook, type QuotaChange } from "./quota";
import { type QuotaReading, readQuota, retryAfterSeconds } from "./quota-headers";
import { accountNames, type QuotaPool } from "./quota-pool";
import { type Fetcher, fetchFollowingRedirects } from "./redirects";
import { retryingOnce } from "./retry";
import type { TokenCache } from "./tokens";

export type { Fetcher };

/** One answer from an upstream, as the stats count it. */
export interface UpstreamEvent {
  readonly kind: "token" | "manifest" | "blob" | "other";
  readonly method: "GET" | "HEAD";
  readonly status: number;
  /** The account the request was made as (its user name, or "anonymous"); never a password. */
  readonly account: string;
  /** Docker Hub's `ratelimit-limit` / `ratelimit-remaining`, when sent. */
  readonly quota?: QuotaReading;
  /** What the answer changed in the account's standing (a reading, a 429). */
  readonly change?: QuotaChange;
}

/** Docker Hub counts manifest GETs (each platform's too); HEAD and blob requests are free. */
export function isCounted(request: Pick<UpstreamRequest, "method" | "path">): boolean {
  return request.method === "GET" && request.path.startsWith("manifests/");
}

function kindOf(path: string): UpstreamEvent["kind"] {
  return path.startsWith("manifests/") ? "manifest" : path.startsWith("blobs/") ? "blob" : "other";
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

/**
 * Talks to one upstream registry: attaches cached credentials, answers a 401 challenge once (a Bearer
 * token from the realm, or Basic), and follows redirects itself so credentials never leave the
 * upstream's origin. Returns the upstream's final response; judging its status is the caller's job.
 *
 * With several accounts, counted requests (manifest GETs) go to the account with the most quota left,
 * a 429 moves the request to the next account, and an exhausted account is left alone until its time
 * is up; when every account is exhausted the client answers 429 itself, without asking. A 429 without
 * quota headers refuses the mirror's address: it is not retried, and nothing more is sent to the
 * upstream until its `Retry-After` (the caching policy serves stale copies meanwhile).
 */
export class Transport {
  private readonly origin: string;
  private readonly auth: UpstreamAuth;
  /** The fetcher, tried once more when a connection fails before any answer. */
  private readonly retrying: Fetcher;
  private readonly pool: QuotaPool;
  private readonly accounts: ReadonlyMap<string, Credentials>;
  /** Counted requests this client made that the upstream served (what a client's pull cost). */
  counted = 0;

  constructor(
    readonly upstream: UpstreamConfig,
    tokens: TokenCache,
    fetcher: Fetcher = (request) => fetch(request),
    /** Told of every upstream answer (for the audit log and the stats). */
    private readonly observe: (event: UpstreamEvent) => void = () => {},
    pool?: QuotaPool,
    /**
     * Asked before each counted request (one that costs quota): throws when the client this transport
     * serves may not spend any more (its budget), and then nothing is sent.
     */
    private readonly beforeCounted: () => void = () => {},
  ) {
    this.origin = new URL(upstream.url).origin;
    this.accounts = new Map(upstream.accounts.map((account) => [account.username, account]));
    this.pool = pool ?? {
      book: new QuotaBook(accountNames(upstream)),
      sync: async () => {},
    };
    this.retrying = retryingOnce(fetcher);
    this.auth = new UpstreamAuth(upstream, tokens, this.timed, (account, status) =>
      this.observe({ kind: "token", method: "GET", status, account }),
    );
  }

  /**
   * The fetcher, bounded by the upstream's timeout until the response headers arrive (not for the body:
   * a large blob may take long to stream); a retry after a failed connection falls within the same bound.
   */
  private readonly timed: Fetcher = async (request) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.upstream.timeout * 1000);
    try {
      return await this.retrying(new Request(request, { signal: controller.signal }));
    } finally {
      clearTimeout(timer);
    }
  };

  get authenticated(): boolean {
    return this.upstream.accounts.length > 0;
  }

  /**
   * Whether every account is below the upstream's `quotaReserve`: then the mirror serves what it holds
   * rather than spend quota on it.
   */
  async sparingQuota(): Promise<boolean> {
    await this.pool.sync();
    return this.pool.book.belowReserve(this.upstream.quotaReserve);
  }

  /** When quota is likely back (ms), or null when the mirror has never seen a reading. */
  quotaRecoveryAt(): number | null {
    return this.pool.book.recoveryAt();
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
    const counted = isCounted(request);
    if (counted) this.beforeCounted();
    if (counted) await this.pool.sync();
    // The upstream refuses the mirror's address: asking again (as any account) only prolongs it.
    const refusedUntil = this.pool.book.refusedUntil();
    if (refusedUntil > 0) throw this.refused(refusedUntil);
    const tried = new Set<string>();
    for (;;) {
      const account = this.pool.book.choose(counted, tried);
      if (account === null) throw this.exhausted();
      let response: Response;
      try {
        response = await this.requestAs(account, request, counted);
      } finally {
        if (counted) this.pool.book.settle(account);
      }
      if (response.status !== 429 || !counted) return response;
      // A bare 429 refuses the address, not the account: the next account would be refused the same.
      if (this.pool.book.refusedUntil() > 0) return response;
      // This account is spent: the same request as the next one that is not, if any (else the
      // upstream's own 429 and Retry-After go to the client).
      tried.add(account);
      if (!this.pool.book.hasAvailable(tried)) return response;
      await response.body?.cancel();
    }
  }

  /** The client's 429 when every account is exhausted: no request is sent to be refused. */
  private exhausted(): RegistryError {
    const seconds = Math.max(1, Math.ceil((this.pool.book.availableAt() - Date.now()) / 1000));
    return new RegistryError(
      429,
      "TOOMANYREQUESTS",
      `upstream "${this.upstream.prefix}": the pull quota of every account is used up`,
      { "Retry-After": String(seconds) },
    );
  }

  /** The client's 429 while the upstream refuses the mirror's address: nothing is sent meanwhile. */
  private refused(until: number): RegistryError {
    const seconds = Math.max(1, Math.ceil((until - Date.now()) / 1000));
    return new RegistryError(
      429,
      "TOOMANYREQUESTS",
      `upstream "${this.upstream.prefix}" is refusing the mirror's requests for now`,
      { "Retry-After": String(seconds) },
    );
  }

  private async requestAs(account: string, request: UpstreamRequest, counted: boolean): Promise<Response> {
    const credentials = this.accounts.get(account) ?? null;
    const url = new URL(`${this.upstream.url}/v2/${request.name}/${request.path}`);
    for (const [key, value] of request.query ?? []) url.searchParams.append(key, value);
    const scope = `repository:${request.name}:pull`;
    const as = { name: account, credentials, counted };

    const first = await this.send(url, request, await this.auth.cached(scope, as), as);
    if (first.status !== 401) return first;

    // A missing or expired token, or a first contact: answer the challenge with fresh credentials, once.
    // Only the upstream's own origin gets here: a redirect target's 401 was thrown as an upstream error.
    let authorization: string | null;
    try {
      authorization = await this.auth.answer(first.headers.get("WWW-Authenticate"), scope, as);
    } catch (error) {
      await first.body?.cancel();
      throw error;
    }
    if (authorization === null) return first;
    await first.body?.cancel();
    return this.send(url, request, authorization, as);
  }

  /**
   * One request as an account. Only an answer other than the challenge (which comes before the real
   * answer) is taken into the account's standing.
   */
  private async send(
    url: URL,
    request: UpstreamRequest,
    authorization: string | null,
    as: Account,
  ): Promise<Response> {
    const headers = new Headers(request.headers);
    headers.set("User-Agent", USER_AGENT);
    let response: Response;
    try {
      response = await fetchFollowingRedirects(this.timed, url, {
        method: request.method,
        headers,
        authorization,
        authorizedOrigin: this.origin,
      });
    } catch (error) {
      if (error instanceof RegistryError) throw error;
      throw unreachable(this.upstream.prefix);
    }
    const quota = readQuota(response.headers) ?? undefined;
    const change =
      response.status === 401
        ? null
        : this.pool.book.observe(as.name, {
            status: response.status,
            reading: quota ?? null,
            retryAfter: retryAfterSeconds(response.headers.get("Retry-After"), Date.now()),
          });
    if (as.counted && response.ok) this.counted += 1;
    this.observe({
      kind: kindOf(request.path),
      method: request.method,
      status: response.status,
      account: as.name,
      ...(quota ? { quota } : {}),
      ...(change ? { change } : {}),
    });
    return response;
  }
}
