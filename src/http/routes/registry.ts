import { type Context, Hono } from "hono";
import { type Audience, audienceFor } from "../../access/audience";
import { checkPull } from "../../access/repository";
import type { ClientSpending } from "../../access/spending";
import { servableTo } from "../../mirror/manifests";
import { parseDigest } from "../../oci/digest";
import { nameUnknown, RegistryError } from "../../oci/errors";
import { parseAccept } from "../../oci/media-types";
import { isValidTag } from "../../oci/names";
import { parseRange } from "../../oci/range";
import { parseReference } from "../../oci/reference";
import type { RemoteRegistry } from "../../upstream/remote-registry";
import { addressPrefix } from "../../util/address-prefix";
import { clientIp } from "../auth";
import type { AppEnv, AuditEntry } from "../context";
import { authenticateClient } from "../middleware/authenticate";
import { rateLimit } from "../middleware/rate-limit";
import { isRegistryPath } from "../paths";
import { repositoryOf } from "../requested-repository";
import { blobResponse, listingResponse, manifestResponse, pingResponse } from "../responses";
import { catalogApi } from "./catalog";

/** At most this many tags per page (`n`), as most registries cap it. */
const MAX_PAGE_SIZE = 10_000;

/**
 * The OCI distribution pull API, under `/v2/…` and `/<prefix>/v2/…`: authenticated (when
 * MIRROR_USERS is set) and rate-limited.
 */
export const registryApi = new Hono<AppEnv>();

const authenticated = authenticateClient();
const rateLimited = rateLimit();
// One middleware for both bases: `/v2/*` and `/:prefix/v2/*` both match `/v2/v2/…`, which would be
// authenticated (and counted) twice.
registryApi.use("*", async function clientChecks(c, next) {
  if (!isRegistryPath(c.req.path)) return next();
  await authenticated(c, async () => {
    await rateLimited(c, next);
  });
});

registryApi.route("/", catalogApi);
registryApi.get("/v2/", () => pingResponse());
registryApi.get("/v2", () => pingResponse());
registryApi.get("/:prefix/v2/", (c) => ping(c));
registryApi.get("/:prefix/v2", (c) => ping(c));

for (const base of ["/v2", "/:prefix/v2"]) {
  registryApi.get(`${base}/:name{.+}/manifests/:reference`, async (c) => {
    const reference = c.req.param("reference") ?? "";
    const repository = pullableRepository(c, "manifest", reference);
    const parsed = parseReference(reference);
    const audit = c.get("audit");
    if (audit) c.set("audit", { ...audit, byTag: parsed.kind === "tag" });
    const { manifests, registry } = c.var.services;
    const spending = spendingOf(c);
    const upstream = registry(repository.upstream, spending);
    const accept = parseAccept(c.req.header("Accept") ?? null);
    // Quarantined: refused before anything is looked up (by digest) or served (a tag's digest, below).
    if (parsed.kind === "digest") await c.var.services.quarantine.check(parsed.digest.value);
    const result = await manifests.get({
      client: upstream,
      name: repository.name,
      reference: parsed,
      accept,
      method: c.req.method === "HEAD" ? "HEAD" : "GET",
      // For the image.cached event's pull reference: the configured custom domain, else the request's host.
      via: c.var.services.config.coloCache?.host ?? new URL(c.req.url).host,
      // A miss may cost quota: charged before the upstream is asked, settled below.
      beforeUpstream: () => spending.charge(),
    });
    recordResult(c, result.digest, result.cache);
    const entry = c.get("audit");
    if (entry && result.signature) c.set("audit", { ...entry, signature: result.signature });
    // Who spends the upstream's pull quota: the client whose request made the counted upstream requests
    // (in the manifest's fill object, or here when the Worker asked the upstream itself).
    const counted = Math.max(result.counted ?? 0, upstream.counted);
    spending.settle(counted);
    c.var.services.stats.spent(spending.client, counted);
    await c.var.services.quarantine.check(result.digest);
    servableTo(accept, result);
    return manifestResponse(result, audienceOf(c, upstream));
  });

  registryApi.get(`${base}/:name{.+}/blobs/:digest`, async (c) => {
    const digest = parseDigest(c.req.param("digest") ?? "");
    const repository = pullableRepository(c, "blob", digest.value);
    const { blobs, registry } = c.var.services;
    const spending = spendingOf(c);
    const upstream = registry(repository.upstream, spending);
    const range = c.req.method === "HEAD" ? null : parseRange(c.req.header("Range") ?? null);
    // Quarantined: refused wherever it is kept (colo cache, R2, a fill) and never fetched.
    await c.var.services.quarantine.check(digest.value);
    await c.var.services.signatures?.admitBlob(upstream, repository.name, digest, async () => {
      return (await c.var.services.blobStore.head(digest)) !== null;
    });
    const result =
      c.req.method === "HEAD"
        ? await blobs.head(upstream, repository.name, digest)
        : await blobs.get(upstream, repository.name, digest, range, {
            admit: () => spending.admitFill(),
            // The fill goes on and stores the whole blob: its size is charged to the client's budget of
            // such bytes (and the stats).
            hungUp: (size) => {
              spending.abandoned(size);
              c.var.services.stats.abandoned(spending.client, size);
            },
          });
    recordResult(c, digest.value, result.cache);
    // Remembered in the isolate and sent with the stats batch (for retention): no write per blob. A part
    // of a blob not stored (passed through, or read from a fill in flight) is no use of a stored blob: a
    // row for it would only grow the table, and a blob being filled is new anyway.
    if (result.body && (range === null || result.cache === "HIT")) c.var.services.stats.served(digest.value);
    return blobResponse(result, digest.value, audienceOf(c, upstream, result.restricted));
  });

  registryApi.get(`${base}/:name{.+}/tags/list`, async (c) => {
    const repository = pullableRepository(c, "tags", "tags/list");
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
    const upstream = c.var.services.registry(repository.upstream, spendingOf(c));
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
  });

  registryApi.get(`${base}/:name{.+}/referrers/:digest`, async (c) => {
    const digest = parseDigest(c.req.param("digest") ?? "");
    const repository = pullableRepository(c, "referrers", digest.value);
    const artifactType = c.req.query("artifactType");
    if (artifactType !== undefined && !/^[\w.+-]{1,127}\/[\w.+-]{1,127}$/.test(artifactType)) {
      throw new RegistryError(400, "UNSUPPORTED", "artifactType must be a media type");
    }
    const spending = spendingOf(c);
    // The referrers fallback's manifest GETs (`sha256-<hex>` tags) cost quota: charged as they are made.
    const upstream = c.var.services.registry(repository.upstream, spending);
    const listing = await c.var.services.listings.referrers(upstream, repository.name, digest, artifactType);
    spending.settle(upstream.counted);
    c.var.services.stats.spent(spending.client, upstream.counted);
    recordResult(c, digest.value, listing.cache);
    return listingResponse(
      listing,
      `${repository.clientBase}/referrers/${digest.value}`,
      c.req.query("ns") ?? null,
      audienceOf(c, upstream),
    );
  });
}

/** `/<prefix>/v2/`: a Docker ≥ 25 mirror URL with a path pings here; the prefix must exist. */
function ping(c: Context<AppEnv>): Response {
  const prefix = c.req.param("prefix") ?? "";
  if (!c.var.services.config.upstreams.has(prefix))
    throw nameUnknown(`unknown upstream prefix "${prefix.slice(0, 64)}"`);
  return pingResponse();
}

/** The repository a request names, once the client is known to be allowed to pull it. */
function pullableRepository(c: Context<AppEnv>, kind: AuditEntry["kind"], reference: string) {
  const repository = repositoryOf(c.var.services.config, {
    pathPrefix: c.req.param("prefix"),
    name: c.req.param("name") ?? "",
    ns: c.req.query("ns"),
  });
  c.set("audit", { kind, upstream: repository.upstream.prefix, repository: repository.name, reference });
  checkPull(c.var.identity.user, repository.upstream, repository.name);
  return repository;
}

/** Who may keep the response: the access module's answer for this client and upstream. */
function audienceOf(c: Context<AppEnv>, upstream: RemoteRegistry, restricted = false): Audience {
  return audienceFor({
    authenticatedClient: c.var.identity.user !== null,
    authenticatedUpstream: upstream.authenticated,
    restricted,
  });
}

/**
 * The request's spending, for its client as budgets and the top spenders know it: its user name, or
 * when anonymous its IPv4 address or IPv6 /64. A refusal is said on the audit line.
 */
function spendingOf(c: Context<AppEnv>): ClientSpending {
  const user = c.var.identity.user?.name;
  const client = user ? `user:${user}` : `ip:${addressPrefix(clientIp(c.req.raw))}`;
  return c.var.services.spending(client, (kind) => {
    const entry = c.get("audit");
    if (entry) c.set("audit", { ...entry, refusedBy: `budget.${kind}` });
  });
}

function recordResult(c: Context<AppEnv>, digest: string | undefined, cache: string): void {
  const entry = c.get("audit");
  if (entry) c.set("audit", { ...entry, digest, cache });
}
