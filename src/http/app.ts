import { type Context, Hono } from "hono";
import { ConfigError } from "../config";
import type { Env } from "../env";
import { listReferrers, listTags } from "../mirror/listings";
import { parseDigest } from "../oci/digest";
import { nameUnknown, RegistryError, unsupported } from "../oci/errors";
import { parseAccept } from "../oci/media-types";
import { assertValidTag, isValidTag } from "../oci/names";
import { parseRange } from "../oci/range";
import { describe, type Services, servicesFor } from "../services";
import { resolveRepository } from "./resolve";
import { blobResponse, errorResponse, listingResponse, manifestResponse, pingResponse } from "./responses";

type AppEnv = { Bindings: Env; Variables: { services: Services } };

const READ_METHODS = new Set(["GET", "HEAD"]);
/** At most this many tags per page (`n`), as most registries cap it. */
const MAX_PAGE_SIZE = 10_000;

/**
 * The registry's HTTP surface: the OCI distribution pull API, under `/v2/…` and `/<prefix>/v2/…`.
 * Every failure becomes an OCI JSON error here and nowhere else.
 */
export function createApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  // The mirror is pull-only; refuse writes before anything else happens (no upstream call).
  app.use("*", async function readOnly(c, next) {
    if (!READ_METHODS.has(c.req.method)) {
      throw unsupported(`${c.req.method.slice(0, 16)} is not supported: this registry mirror is pull-only`, {
        Allow: "GET, HEAD",
      });
    }
    c.set("services", servicesFor(c.env));
    await next();
  });

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
    if (error instanceof RegistryError) return errorResponse(error);
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

/** `/<prefix>/v2/`: a Docker ≥ 25 mirror URL with a path pings here; the prefix must exist. */
function ping(c: Context<AppEnv>): Response {
  const prefix = c.req.param("prefix") ?? "";
  if (!c.var.services.config.upstreams.has(prefix))
    throw nameUnknown(`unknown upstream prefix "${prefix.slice(0, 64)}"`);
  return pingResponse();
}

function target(c: Context<AppEnv>) {
  return resolveRepository(c.var.services.config, {
    pathPrefix: c.req.param("prefix"),
    name: c.req.param("name") ?? "",
    ns: c.req.query("ns"),
  });
}

async function manifests(c: Context<AppEnv>): Promise<Response> {
  const repository = target(c);
  const reference = c.req.param("reference") ?? "";
  if (!reference.includes(":")) assertValidTag(reference);
  const parsed = reference.includes(":") ? { digest: parseDigest(reference) } : { tag: reference };
  const { manifests, client } = c.var.services;
  const result = await manifests.get({
    client: client(repository.upstream),
    name: repository.name,
    reference: parsed,
    accept: parseAccept(c.req.header("Accept") ?? null),
    method: c.req.method === "HEAD" ? "HEAD" : "GET",
  });
  return manifestResponse(result);
}

async function blobs(c: Context<AppEnv>): Promise<Response> {
  const repository = target(c);
  const digest = parseDigest(c.req.param("digest") ?? "");
  const { blobs, client } = c.var.services;
  const upstream = client(repository.upstream);
  if (c.req.method === "HEAD")
    return blobResponse(await blobs.head(upstream, repository.name, digest), digest.value);
  const range = parseRange(c.req.header("Range") ?? null);
  return blobResponse(await blobs.get(upstream, repository.name, digest, range), digest.value);
}

async function tags(c: Context<AppEnv>): Promise<Response> {
  const repository = target(c);
  const query = new URLSearchParams();
  const n = c.req.query("n");
  const last = c.req.query("last");
  if (n !== undefined) {
    if (!/^\d{1,6}$/.test(n) || Number(n) > MAX_PAGE_SIZE) {
      throw new RegistryError(
        400,
        "PAGINATION_NUMBER_INVALID",
        `n must be a whole number up to ${MAX_PAGE_SIZE}`,
      );
    }
    query.set("n", n);
  }
  if (last !== undefined) {
    if (!isValidTag(last)) throw new RegistryError(400, "TAG_INVALID", "last must be a tag");
    query.set("last", last);
  }
  const { client } = c.var.services;
  const listing = await listTags(client(repository.upstream), repository.name, query);
  return listingResponse(listing, `${repository.clientBase}/tags/list`, c.req.query("ns") ?? null);
}

async function referrers(c: Context<AppEnv>): Promise<Response> {
  const repository = target(c);
  const digest = parseDigest(c.req.param("digest") ?? "");
  const query = new URLSearchParams();
  const artifactType = c.req.query("artifactType");
  if (artifactType !== undefined) {
    if (!/^[\w.+-]{1,127}\/[\w.+-]{1,127}$/.test(artifactType)) {
      throw new RegistryError(400, "UNSUPPORTED", "artifactType must be a media type");
    }
    query.set("artifactType", artifactType);
  }
  const { client } = c.var.services;
  const listing = await listReferrers(client(repository.upstream), repository.name, digest, query);
  return listingResponse(
    listing,
    `${repository.clientBase}/referrers/${digest.value}`,
    c.req.query("ns") ?? null,
  );
}
