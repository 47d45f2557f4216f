import { type Context, Hono } from "hono";
import { ConfigError } from "../config";
import { servableTo } from "../mirror/manifests";
import { parseDigest } from "../oci/digest";
import { nameUnknown, RegistryError, unsupported } from "../oci/errors";
import { parseAccept } from "../oci/media-types";
import { isValidTag } from "../oci/names";
import { parseRange } from "../oci/range";
import { parseReference } from "../oci/reference";
import { describe, type RequestScope, servicesFor } from "../platform/services";
import { statsStub } from "../platform/stats-recorder";
import type { RemoteRegistry } from "../upstream/remote-registry";
import { checkAccess } from "./access";
import { registerAdmin } from "./admin";
import { authenticate, forClient, clientIp as requestIp } from "./auth";
import { nextLast, positionOf, visiblePage } from "./catalog";
import type { AppEnv, AuditEntry } from "./context";
import { type ColoCacheState, renderLandingPage } from "./landing/page";
import { resolveRepository } from "./resolve";
import {
  API_VERSION_HEADER,
  type Audience,
  blobResponse,
  errorResponse,
  listingResponse,
  manifestResponse,
  pingResponse,
} from "./responses";
import { tokenEndpoint } from "./token-endpoint";

const READ_METHODS = new Set(["GET", "HEAD"]);
/** At most this many tags per page (`n`), as most registries cap it. */
const MAX_PAGE_SIZE = 10_000;
/** The period of the rate limiter binding (wrangler.toml `[[ratelimits]]`). */
const RATE_LIMIT_PERIOD_SECONDS = "60";

/**
 * The registry's HTTP surface: the OCI distribution pull API, under `/v2/…` and `/<prefix>/v2/…`, and
 * the token endpoint for client authentication. Every failure becomes an OCI JSON error here and
 * nowhere else.
 */
export function createApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  // One structured line per pull request, whatever its outcome.
  app.use("*", async function auditLog(c, next) {
    const started = Date.now();
    try {
      await next();
    } finally {
      const entry = c.get("audit");
      const services = c.get("services");
      if (!entry && services && isRegistryPath(c.req.path)) {
        // Refused before a repository was resolved (no or bad credentials, bad input): still audited.
        services.log({
          event: "pull",
          user: c.get("identity")?.user?.name ?? "anonymous",
          ip: clientIp(c),
          method: c.req.method.slice(0, 16),
          path: c.req.path.slice(0, 300),
          status: c.res.status,
          ms: Date.now() - started,
        });
      }
      if (entry && services) {
        const bytes = Number(c.res.headers.get("Content-Length") ?? "") || 0;
        services.stats.request({
          cache: entry.cache,
          status: c.res.status,
          bytes: c.req.method === "GET" ? bytes : 0,
          pulled:
            entry.kind === "manifest" && entry.byTag ? `${entry.upstream}/${entry.repository}` : undefined,
        });
        c.env.ANALYTICS?.writeDataPoint({
          indexes: [entry.upstream],
          blobs: [
            entry.upstream,
            entry.repository,
            entry.reference,
            entry.cache ?? "",
            c.get("identity")?.user?.name ?? "",
          ],
          doubles: [c.res.status, bytes, Date.now() - started],
        });
        c.executionCtx.waitUntil(services.stats.flushIfDue().catch(() => {}));
        services.log({
          event: "pull",
          user: c.get("identity")?.user?.name ?? "anonymous",
          ip: clientIp(c),
          method: c.req.method,
          ...entry,
          status: c.res.status,
          bytes: Number(c.res.headers.get("Content-Length") ?? "") || undefined,
          upstreamStatus: services.upstreamStatuses.join(",") || undefined,
          ms: Date.now() - started,
        });
      }
    }
  });

  // The registry API is pull-only; refuse writes before anything else happens (no upstream call).
  // Only the token endpoint and the admin endpoints take other methods.
  app.use("*", async function readOnly(c, next) {
    const allowed = READ_METHODS.has(c.req.method) || c.req.path === "/token" || c.req.path.startsWith("/_/");
    if (!allowed) {
      throw unsupported(`${c.req.method.slice(0, 16)} is not supported: this registry mirror is pull-only`, {
        Allow: "GET, HEAD",
      });
    }
    c.set("services", servicesFor(c.env, requestScope(c)));
    await next();
  });

  app.get("/token", (c) => tokenEndpoint(c.req.raw, c.var.services.config, c.var.services.authThrottle));
  app.post("/token", (c) => tokenEndpoint(c.req.raw, c.var.services.config, c.var.services.authThrottle));

  registerAdmin(app);

  // The landing page: what this mirror is, and how to point clients at it.
  app.get("/", async (c) => {
    const { config, colo } = c.var.services;
    const url = new URL(c.req.url);
    // A probe (a put and a read, once per isolate) says whether this host's data centre cache works.
    const coloCache: ColoCacheState =
      config.coloCache === null ? "off" : (await colo?.cache.active()) ? "active" : "inactive";
    return c.html(
      renderLandingPage({
        origin: url.origin,
        host: url.host,
        upstreams: [...config.upstreams.values()],
        defaultUpstream: config.defaultUpstream?.prefix ?? null,
        authRequired: config.users !== null,
        coloCache,
      }),
    );
  });

  // The registry API is authenticated (when MIRROR_USERS is set) and rate-limited.
  app.use("*", async function authenticated(c, next) {
    if (!isRegistryPath(c.req.path)) return next();
    const { config } = c.var.services;
    const identity = await authenticate(c.req.raw, config, c.var.services.authThrottle);
    c.set("identity", identity);
    if (config.rateLimit && c.env.RATE_LIMITER) {
      const { success } = await c.env.RATE_LIMITER.limit({ key: identity.user?.name ?? clientIp(c) });
      if (!success) {
        throw new RegistryError(429, "TOOMANYREQUESTS", "too many requests to this mirror", {
          "Retry-After": RATE_LIMIT_PERIOD_SECONDS,
        });
      }
    }
    await next();
  });

  app.get("/v2/_catalog", catalog);
  app.get("/v2/", () => pingResponse());
  app.get("/v2", () => pingResponse());
  app.get("/:prefix/v2/", (c) => ping(c));
  app.get("/:prefix/v2", (c) => ping(c));

  for (const base of ["/v2", "/:prefix/v2"]) {
    app.get(`${base}/:name{.+}/manifests/:reference`, manifests);
    app.get(`${base}/:name{.+}/blobs/:digest`, blobs);
    app.get(`${base}/:name{.+}/tags/list`, tags);
    app.get(`${base}/:name{.+}/referrers/:digest`, referrers);
  }

  app.notFound(() => errorResponse(new RegistryError(404, "UNSUPPORTED", "not a registry API path")));
  app.onError((error, c) => {
    if (error instanceof RegistryError)
      return errorResponse(forClient(error, c.req.raw, c.get("services")?.config));
    if (error instanceof ConfigError) {
      console.error(JSON.stringify({ event: "config.invalid", error: error.message }));
      return errorResponse(new RegistryError(500, "UNKNOWN", error.message));
    }
    console.error(
      JSON.stringify({ event: "request.failed", path: c.req.path.slice(0, 300), error: describe(error) }),
    );
    return errorResponse(new RegistryError(500, "UNKNOWN", "internal error"));
  });
  return app;
}

/** The request's origin and its `waitUntil` (absent when the app is called without an execution context). */
function requestScope(c: Context<AppEnv>): RequestScope | undefined {
  let waitUntil: RequestScope["waitUntil"];
  try {
    const ctx = c.executionCtx;
    waitUntil = (promise) => ctx.waitUntil(promise);
  } catch {
    return undefined;
  }
  return { origin: new URL(c.req.url).origin, waitUntil };
}

function isRegistryPath(path: string): boolean {
  return /^\/([^/]+\/)?v2(\/|$)/.test(path);
}

function clientIp(c: Context<AppEnv>): string {
  return requestIp(c.req.raw);
}

/** `/<prefix>/v2/`: a Docker ≥ 25 mirror URL with a path pings here; the prefix must exist. */
function ping(c: Context<AppEnv>): Response {
  const prefix = c.req.param("prefix") ?? "";
  if (!c.var.services.config.upstreams.has(prefix))
    throw nameUnknown(`unknown upstream prefix "${prefix.slice(0, 64)}"`);
  return pingResponse();
}

/** The repository a request names, once the client is known to be allowed to pull it. */
function target(c: Context<AppEnv>, kind: AuditEntry["kind"], reference: string) {
  const repository = resolveRepository(c.var.services.config, {
    pathPrefix: c.req.param("prefix"),
    name: c.req.param("name") ?? "",
    ns: c.req.query("ns"),
  });
  c.set("audit", { kind, upstream: repository.upstream.prefix, repository: repository.name, reference });
  checkAccess(c.var.identity, repository.upstream, repository.name);
  return repository;
}

/**
 * `private` when the client authenticated, the upstream was reached with the mirror's credentials, or
 * the stored blob was fetched with them: a shared cache must not hand such a response to others.
 */
function audienceOf(c: Context<AppEnv>, upstream: RemoteRegistry, restricted = false): Audience {
  return c.var.identity.user !== null || upstream.authenticated || restricted ? "private" : "public";
}

/** A client as the top spenders of quota list it: its user name, or its IP when anonymous. */
function spenderOf(c: Context<AppEnv>): string {
  const user = c.var.identity.user?.name;
  return user ? `user:${user}` : `ip:${clientIp(c)}`;
}

function recordResult(c: Context<AppEnv>, digest: string | undefined, cache: string): void {
  const entry = c.get("audit");
  if (entry) c.set("audit", { ...entry, digest, cache });
}

async function manifests(c: Context<AppEnv>): Promise<Response> {
  const reference = c.req.param("reference") ?? "";
  const repository = target(c, "manifest", reference);
  const parsed = parseReference(reference);
  const audit = c.get("audit");
  if (audit) c.set("audit", { ...audit, byTag: parsed.kind === "tag" });
  const { manifests, client } = c.var.services;
  const upstream = client(repository.upstream);
  const accept = parseAccept(c.req.header("Accept") ?? null);
  const result = await manifests.get({
    client: upstream,
    name: repository.name,
    reference: parsed,
    accept,
    method: c.req.method === "HEAD" ? "HEAD" : "GET",
  });
  recordResult(c, result.digest, result.cache);
  // Who spends the upstream's pull quota: the client whose request made the counted upstream requests.
  c.var.services.stats.spent(spenderOf(c), result.counted ?? 0);
  servableTo(accept, result);
  return manifestResponse(result, audienceOf(c, upstream));
}

async function blobs(c: Context<AppEnv>): Promise<Response> {
  const digest = parseDigest(c.req.param("digest") ?? "");
  const repository = target(c, "blob", digest.value);
  const { blobs, client } = c.var.services;
  const upstream = client(repository.upstream);
  const range = c.req.method === "HEAD" ? null : parseRange(c.req.header("Range") ?? null);
  const result =
    c.req.method === "HEAD"
      ? await blobs.head(upstream, repository.name, digest)
      : await blobs.get(upstream, repository.name, digest, range);
  recordResult(c, digest.value, result.cache);
  // Remembered in the isolate and sent with the stats batch (for retention): no write per blob. A part
  // of a blob not stored (passed through, or read from a fill in flight) is no use of a stored blob: a
  // row for it would only grow the table, and a blob being filled is new anyway.
  if (result.body && (range === null || result.cache === "HIT")) c.var.services.stats.served(digest.value);
  return blobResponse(result, digest.value, audienceOf(c, upstream, result.restricted));
}

async function tags(c: Context<AppEnv>): Promise<Response> {
  const repository = target(c, "tags", "tags/list");
  const n = c.req.query("n");
  const last = c.req.query("last");
  if (n !== undefined && (!/^\d{1,6}$/.test(n) || Number(n) > MAX_PAGE_SIZE)) {
    throw new RegistryError(
      400,
      "PAGINATION_NUMBER_INVALID",
      `n must be a whole number up to ${MAX_PAGE_SIZE}`,
    );
  }
  if (last !== undefined && !isValidTag(last))
    throw new RegistryError(400, "TAG_INVALID", "last must be a tag");
  const upstream = c.var.services.client(repository.upstream);
  const listing = await c.var.services.listings.tags(upstream, repository.name, {
    n: n === undefined ? undefined : Number(n),
    last,
  });
  recordResult(c, undefined, listing.cache);
  return listingResponse(
    listing,
    `${repository.clientBase}/tags/list`,
    c.req.query("ns") ?? null,
    audienceOf(c, upstream),
  );
}

async function referrers(c: Context<AppEnv>): Promise<Response> {
  const digest = parseDigest(c.req.param("digest") ?? "");
  const repository = target(c, "referrers", digest.value);
  const artifactType = c.req.query("artifactType");
  if (artifactType !== undefined && !/^[\w.+-]{1,127}\/[\w.+-]{1,127}$/.test(artifactType)) {
    throw new RegistryError(400, "UNSUPPORTED", "artifactType must be a media type");
  }
  const upstream = c.var.services.client(repository.upstream);
  const listing = await c.var.services.listings.referrers(upstream, repository.name, digest, artifactType);
  recordResult(c, digest.value, listing.cache);
  return listingResponse(
    listing,
    `${repository.clientBase}/referrers/${digest.value}`,
    c.req.query("ns") ?? null,
    audienceOf(c, upstream),
  );
}

/**
 * `/v2/_catalog`: the repositories the mirror holds, as `<prefix>/<name>`, that this client may pull.
 * Pages over the names the client may see, so its `Link` never names a hidden repository.
 */
async function catalog(c: Context<AppEnv>): Promise<Response> {
  const n = c.req.query("n") ?? "100";
  if (!/^\d{1,4}$/.test(n) || Number(n) < 1 || Number(n) > 1000) {
    throw new RegistryError(400, "PAGINATION_NUMBER_INVALID", "n must be a whole number from 1 to 1000");
  }
  const stub = statsStub(c.env.STATS);
  if (!stub) throw new RegistryError(404, "UNSUPPORTED", "the catalog is off: no STATS binding");
  const { config, stats } = c.var.services;
  const after = await positionOf(c.req.query("last") ?? null, config.tokenKey);
  await stats.flush(); // what this isolate counted is part of the answer
  const page = await visiblePage(
    async (count, last) => {
      const rows = await stub.catalog(count, last);
      return { repositories: [...rows.repositories], more: rows.more };
    },
    Number(n),
    after,
    (repository) => {
      const slash = repository.indexOf("/");
      const upstream = config.upstreams.get(repository.slice(0, slash));
      if (!upstream) return false;
      try {
        checkAccess(c.var.identity, upstream, repository.slice(slash + 1));
        return true;
      } catch {
        return false;
      }
    },
  );
  const headers: Record<string, string> = { ...API_VERSION_HEADER };
  // What a user may see depends on who they are: no shared cache may keep it.
  if (c.var.identity.user !== null) headers["Cache-Control"] = "private";
  const last = await nextLast(page, config.tokenKey);
  if (last !== null) headers.Link = `</v2/_catalog?${new URLSearchParams({ n, last })}>; rel="next"`;
  return c.json({ repositories: page.repositories }, 200, headers);
}
