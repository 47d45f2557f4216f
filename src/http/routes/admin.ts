import { type Context, Hono } from "hono";
import { isValidReason, MAX_REASON_LENGTH } from "../../access/quarantine";
import { ConfigError } from "../../config";
import { parseWarmImage, type WarmImage } from "../../config/warm-images";
import { parseDigest } from "../../oci/digest";
import { RegistryError } from "../../oci/errors";
import { isValidName, isValidTag } from "../../oci/names";
import { warmImage } from "../../ops/warm";
import { foregroundCount } from "../../util/foreground";
import { heldBytes } from "../../util/held-bytes";
import { ADMIN_OPERATIONS, OpBudget } from "../../util/op-budget";
import { opCounts } from "../../util/op-counters";
import type { AppEnv } from "../context";
import { adminOnly } from "../middleware/admin-only";

/**
 * Operators' endpoints, mounted under `/_/`, behind `Authorization: Bearer <ADMIN_TOKEN>`: stats,
 * warming an image now, listing cached tags, purging a tag or a repository, quarantining a digest,
 * platform operation counts (benchmarks).
 */
export const adminApi = new Hono<AppEnv>();

adminApi.use("*", adminOnly());

adminApi.get("/stats", async (c) => {
  const { stats } = c.var.services;
  await stats.flush();
  const stub = c.var.services.statsObject;
  if (!stub) throw new RegistryError(404, "UNSUPPORTED", "stats are off: no STATS binding");
  const top = Number(c.req.query("top") ?? "10");
  return c.json(await stub.snapshot(Number.isInteger(top) ? top : 10), 200, {
    "Cache-Control": "no-store",
  });
});

// Platform operations counted in this isolate since the last reset (OP_COUNTERS = "on" only).
adminApi.get("/ops", (c) => {
  if (!c.var.services.countsOperations)
    throw new RegistryError(404, "UNSUPPORTED", "operation counters are off: set OP_COUNTERS=on");
  // And the client bodies streaming from this isolate now (0 once every pull is done), and the bytes
  // its blob fills hold in memory: now, at most since the last reset, and the budget.
  const reset = c.req.query("reset") === "1";
  return c.json({ ...opCounts(reset), clientBodies: foregroundCount(), fillMemory: heldBytes(reset) }, 200, {
    "Cache-Control": "no-store",
  });
});

adminApi.post("/warm", async (c) => {
  const body = await readJson(c);
  const image = typeof body?.image === "string" ? body.image : (c.req.query("image") ?? "");
  const platforms = Array.isArray(body?.platforms)
    ? body.platforms.filter((p): p is string => typeof p === "string")
    : null;
  const { services } = c.var;
  let wanted: WarmImage;
  try {
    wanted = parseWarmImage(image, platforms, new Set(services.config.upstreams.keys()));
  } catch (error) {
    if (error instanceof ConfigError)
      throw new RegistryError(
        400,
        "NAME_INVALID",
        error.message.replace(/^invalid configuration: WARM_IMAGES\[0\]: /, ""),
      );
    throw error;
  }
  const report = await warmImage(services, wanted);
  await services.stats.flush();
  // Stopped to spare the quota reserve: the stats object goes on with it later (202: not done yet).
  if (report.deferred) {
    const stub = services.statsObject;
    if (stub) {
      const at = await stub.deferWarmups([wanted], Date.parse(report.deferred.resumeAt));
      return c.json({ ...report, deferred: { resumeAt: new Date(at).toISOString() } }, 202);
    }
    return c.json(report, 202);
  }
  return c.json(report);
});

adminApi.get("/images", async (c) => {
  const upstream = c.req.query("upstream") ?? null;
  const page = await c.var.services.manifestStore.listTags(upstream, c.req.query("cursor"));
  const now = Date.now();
  return c.json({
    images: page.tags.map(({ repository, tag, entry }) => ({
      repository: `${repository.upstream}/${repository.name}`,
      tag,
      digest: entry.digest,
      mediaType: entry.mediaType,
      ageSeconds: Math.round((now - entry.checkedAt) / 1000),
    })),
    cursor: page.cursor ?? null,
  });
});

// DELETE /_/images/<prefix>/<name>:<tag> purges a tag; /_/images/<prefix>/<name> the whole repository.
// One call stays within the platform's subrequests: `complete: false` says "call again to go on".
adminApi.delete("/images/:prefix/:rest{.+}", async (c) => {
  const prefix = c.req.param("prefix");
  const rest = c.req.param("rest");
  const colon = rest.lastIndexOf(":");
  const name = colon > 0 ? rest.slice(0, colon) : rest;
  const tag = colon > 0 ? rest.slice(colon + 1) : null;
  if (!c.var.services.config.upstreams.has(prefix))
    throw new RegistryError(404, "NAME_UNKNOWN", "unknown upstream prefix");
  if (!isValidName(name) || (tag !== null && !isValidTag(tag)))
    throw new RegistryError(400, "NAME_INVALID", "invalid name or tag");
  const { services } = c.var;
  const repository = { upstream: prefix, name };
  const budget = new OpBudget(ADMIN_OPERATIONS);
  if (tag === null) {
    // First, however many calls the entries take: the repository loses its blob links and catalog
    // entry at once (2 operations).
    budget.take(2);
    await services.blobLinks.purge(repository);
    await services.statsObject?.forget(`${prefix}/${name}`);
  }
  const manifests = await services.manifestStore.purge(repository, tag, budget);
  // The repository's cached tag lists and referrers go with it (a tag's own purge leaves them to their TTL).
  const listings =
    tag === null && manifests.complete
      ? await services.listingStore.purge(repository, budget)
      : { deleted: 0, complete: manifests.complete };
  const purged = manifests.deleted + listings.deleted;
  const complete = listings.complete;
  services.log({
    event: "purge",
    upstream: prefix,
    repository: name,
    tag: tag ?? undefined,
    entries: purged,
    complete,
  });
  return c.json({ purged, complete });
});

// Quarantine: a digest (manifest, index or blob) refused to every repository and client, with a reason.
adminApi.get("/quarantine", async (c) => {
  const stub = quarantineStore(c);
  return c.json({ quarantined: await stub.quarantineEntries() }, 200, { "Cache-Control": "no-store" });
});

adminApi.put("/quarantine/:digest", async (c) => {
  const digest = parseDigest(c.req.param("digest")).value;
  const stub = quarantineStore(c);
  const reason = (await readJson(c))?.reason;
  if (!isValidReason(reason)) {
    throw new RegistryError(
      400,
      "UNSUPPORTED",
      `the body must be JSON {"reason": "…"}: one line of text, 1 to ${MAX_REASON_LENGTH} characters`,
    );
  }
  const added = await stub.quarantineDigest(digest, reason);
  if (!added) throw new RegistryError(400, "UNSUPPORTED", "the quarantine is full");
  const { services } = c.var;
  services.quarantine.applied(digest, added.entry);
  // The reason is the operator's (or scanner's) own text, and goes to every client refused.
  services.log({ event: "quarantine.added", digest, reason: added.entry.reason });
  return c.json(added.entry, added.created ? 201 : 200);
});

adminApi.delete("/quarantine/:digest", async (c) => {
  const digest = parseDigest(c.req.param("digest")).value;
  const released = await quarantineStore(c).releaseDigest(digest);
  const { services } = c.var;
  services.quarantine.applied(digest, null);
  if (released) services.log({ event: "quarantine.released", digest });
  return c.json({ digest, released });
});

function quarantineStore(c: Context<AppEnv>) {
  const stub = c.var.services.statsObject;
  if (!stub) throw new RegistryError(404, "UNSUPPORTED", "quarantine is off: no STATS binding");
  return stub;
}

async function readJson(c: Context<AppEnv>): Promise<Record<string, unknown> | null> {
  if (!(c.req.header("Content-Type") ?? "").includes("json")) return null;
  try {
    const value: unknown = await c.req.json();
    return value && typeof value === "object" ? (value as Record<string, unknown>) : null;
  } catch {
    throw new RegistryError(400, "UNSUPPORTED", "body is not valid JSON");
  }
}
