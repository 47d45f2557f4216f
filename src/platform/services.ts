import { BlobAccess } from "../access/blobs";
import type { Quarantine } from "../access/quarantine";
import { type BudgetKind, ClientSpending } from "../access/spending";
import { OidcVerifier } from "../auth/oidc/verify";
import { type AuthThrottle, throttleFor } from "../auth/throttle";
import { type Config, configFor, type UpstreamConfig } from "../config";
import { BlobMirror } from "../mirror/blobs";
import type { EventSink, MirrorEvent } from "../mirror/events";
import { ListingMirror } from "../mirror/listings";
import { ManifestMirror, type ManifestSource } from "../mirror/manifests";
import { type SignatureRefusal, SignedManifests } from "../mirror/signed-manifests";
import type { Log } from "../mirror/types";
import { type BlobLinks, DurableBlobLinks } from "../storage/blob-links";
import { type BlobStore, R2BlobStore } from "../storage/blob-store";
import { type ColoCache, coloKeys, WorkersColoCache } from "../storage/colo-cache";
import { ColoManifestStore } from "../storage/colo-manifest-store";
import { KvListingStore, type ListingStore } from "../storage/listing-store";
import { KvManifestStore, type ManifestStore } from "../storage/manifest-store";
import { KvApprovalStore } from "../storage/signature-approvals";
import { TagCheckMemory } from "../storage/tag-check-memory";
import { KvTagListStore } from "../storage/tag-list-store";
import { TolerantManifestStore } from "../storage/tolerant-manifest-store";
import { RemoteRegistry } from "../upstream/remote-registry";
import { Transport, type UpstreamEvent } from "../upstream/transport";
import {
  countCache,
  countFetch,
  countInvocation,
  type InvocationKind,
  withOpCounters,
} from "../util/op-counters";
import { DurableBlobFiller } from "./durable-blob-filler";
import { DurableManifests } from "./durable-manifests";
import type { Env } from "./env";
import {
  approvalMemoryFor,
  issuerKeysFor,
  listingChecksFor,
  listingMemoryFor,
  quarantineFor,
  quotaPoolFor,
  referrersSupportFor,
  refusalMemoryFor,
  spendingMemoryFor,
  tagChecksFor,
  tokenCacheFor,
  verificationsFor,
} from "./isolate-memory";
import { describe, log } from "./log";
import type { MirrorStats } from "./stats-object";
import { recorderFor, type StatsRecorder, statsStub } from "./stats-recorder";

/** Everything a request handler needs, assembled from the environment: the composition root. */
export interface Services {
  readonly config: Config;
  readonly blobs: BlobMirror;
  readonly blobStore: BlobStore;
  readonly blobLinks: BlobLinks;
  /** May a repository see a digest (links, upstream confirmation): asked by the Worker and fill objects. */
  readonly blobAccess: BlobAccess;
  readonly manifestStore: ManifestStore;
  /** Manifests as the HTTP layer asks for them: cache first, misses coalesced, the signature policy applied. */
  readonly manifests: ManifestSource;
  /** The signature policy's checks (blobs are admitted here); null when `SIGNATURE_POLICY` is not set. */
  readonly signatures: SignedManifests | null;
  /** The manifest policy itself, run where misses are coalesced. */
  readonly manifestMirror: ManifestMirror;
  /** Tag lists and referrers, cached like tags. */
  readonly listings: ListingMirror;
  readonly listingStore: ListingStore;
  /**
   * The upstream registry as this request talks to it (its token, quota and timeouts); with
   * `spending`, each counted request is charged to that client first (and refused past its budget).
   */
  registry(upstream: UpstreamConfig, spending?: ClientSpending): RemoteRegistry;
  /** What `client` (`user:<name>` or `ip:<address>`) may still spend this hour, for one request. */
  spending(client: string, refused?: (kind: BudgetKind) => void): ClientSpending;
  /** Statuses of the upstream answers this request caused (in this isolate), for the audit log. */
  readonly upstreamStatuses: readonly number[];
  readonly stats: StatsRecorder;
  /**
   * Events for scanners (webhooks, the Queue): `emit` only enqueues them with the stats batch; the
   * stats object's alarm delivers them. The signature policy's refusals go here too.
   */
  readonly events: EventSink;
  /** Digests refused to every client (`/_/quarantine`), as this isolate knows them (refreshed each minute). */
  readonly quarantine: Quarantine;
  readonly log: Log;
  /** Limits failed client authentications, before any password is hashed. */
  readonly authThrottle: AuthThrottle;
  /** Checks platform tokens (`OIDC_ISSUERS`); null when no issuer is configured. */
  readonly oidc: OidcVerifier | null;
  /** The colo cache and the origin its keys are made for; null when not in use. */
  readonly colo: { readonly cache: ColoCache; readonly origin: string } | null;
  /** The mirror's totals (`/_/stats`, the catalog, purges); null when there is no STATS binding. */
  readonly statsObject: DurableObjectStub<MirrorStats> | null;
  /** One data point per request goes here when Analytics Engine is bound. */
  readonly analytics: AnalyticsEngineDataset | null;
  /** Limits pulls per client; null unless `RATE_LIMIT` is "on" and the binding is there. */
  readonly rateLimiter: RateLimit | null;
  /** Whether platform operations are counted (`OP_COUNTERS` = "on", `GET /_/ops`). */
  readonly countsOperations: boolean;
}

/** A request being served: where it came to, and how to keep work going after the response. */
export interface RequestScope {
  /** The request's origin, e.g. `https://mirror.example.com`. */
  readonly origin: string;
  readonly waitUntil: (promise: Promise<unknown>) => void;
}

/**
 * `scope`: the request being served, when there is one. Only then is the colo cache used: its keys
 * name the mirror's host and its puts outlive the response (Durable Objects and the cron pass none).
 * `invocation`: what kind of invocation builds these services (each builds them once), for the counts.
 */
export function servicesFor(
  plainEnv: Env,
  scope?: RequestScope,
  invocation: InvocationKind = scope ? "request" : "object",
): Services {
  // OP_COUNTERS = "on" (benchmarks): the bindings below are counted, see GET /_/ops. What the isolate
  // remembers per binding is keyed on the plain bindings, shared by every kind of invocation.
  const env = withOpCounters(plainEnv, invocation);
  countInvocation(invocation);
  const config = configFor(env);
  const cache = tokenCacheFor(plainEnv.MANIFESTS);
  const upstreamStatuses: number[] = [];
  const stats = recorderFor(env.STATS, config.statsFlushMs);
  // Each isolate counts its clients' spending; the stats object tells it who is over in all isolates.
  const spendingMemory = spendingMemoryFor(env.MANIFESTS);
  stats.reportOverBudget((kind, clients) => spendingMemory.over(kind, clients));
  const events = eventSinkFor(stats);
  // Links live in each digest's fill object (no KV write per blob); purges are marked in KV.
  const blobLinks = new DurableBlobLinks(
    (digest) => env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(digest)),
    env.MANIFESTS,
    (operation, error) => log({ event: "blob_links.failed", operation, error: describe(error) }),
  );
  // Confirming that a repository holds a blob is asking the upstream for its size there.
  const blobAccess = new BlobAccess(blobLinks, (client: RemoteRegistry, name, digest) =>
    client.blobSize(name, digest),
  );
  // Outermost, failures: a storage failure never fails a pull the upstream can serve.
  const storedManifests = new TolerantManifestStore(
    new TagCheckMemory(new KvManifestStore(env.MANIFESTS), tagChecksFor(plainEnv.MANIFESTS)),
    (operation, error) => log({ event: "manifest_store.failed", operation, error: describe(error) }),
  );
  const colo = coloCacheFor(config, scope);
  // Manifests by digest from the colo cache first (tags stay with their TTL in KV).
  const manifestStore = colo
    ? new ColoManifestStore(storedManifests, colo.cache, colo.origin)
    : storedManifests;
  const manifestMirror = new ManifestMirror(manifestStore, log, events);
  const listingStore = new KvListingStore(
    env.MANIFESTS,
    listingChecksFor(plainEnv.MANIFESTS),
    (operation, error) => log({ event: "listing_store.failed", operation, error: describe(error) }),
  );
  const durableManifests = new DurableManifests(
    manifestMirror,
    env.MANIFEST_MISSES,
    (error) => log({ event: "manifest.fill_unreachable", error: describe(error) }),
    (statuses) => upstreamStatuses.push(...statuses),
  );
  // No policy, no step: not one extra request or lookup.
  const signatures =
    config.signaturePolicy &&
    new SignedManifests(durableManifests, config.signaturePolicy, {
      approvals: new KvApprovalStore(
        env.MANIFESTS,
        approvalMemoryFor(plainEnv.MANIFESTS),
        (operation, error) => log({ event: "signature_approvals.failed", operation, error: describe(error) }),
      ),
      refusals: refusalMemoryFor(plainEnv.MANIFESTS),
      verifying: verificationsFor(plainEnv.MANIFESTS),
      log,
      refused: (refusal) => {
        signatureRefused(refusal);
        events.emit({
          type: "policy.refused",
          upstream: refusal.upstream,
          repository: refusal.repository,
          reference: refusal.reference,
          digest: refusal.digest,
          kind: refusal.kind,
          policy: refusal.policy,
          shortfall: refusal.shortfall,
          reason: refusal.message,
        });
      },
    });
  const blobStore = new R2BlobStore(env.BLOBS, config.multipartThreshold, (operation, error) =>
    log({ event: "blob_store.failed", operation, error: describe(error) }),
  );
  return {
    config,
    blobs: new BlobMirror(
      blobStore,
      new DurableBlobFiller(
        env.BLOB_FILLS,
        (error) => log({ event: "blob.fill_unreachable", error: describe(error) }),
        (statuses) => upstreamStatuses.push(...statuses),
        config.plan === "free",
        scope?.waitUntil,
      ),
      blobAccess,
      colo && {
        cache: colo.cache,
        key: (digest, restricted) => coloKeys.blob(colo.origin, digest, restricted),
      },
    ),
    blobLinks,
    blobAccess,
    manifestStore,
    blobStore,
    manifests: signatures ?? durableManifests,
    signatures,
    manifestMirror,
    listings: new ListingMirror(
      listingStore,
      new KvTagListStore(env.MANIFESTS, listingChecksFor(plainEnv.MANIFESTS), (operation, error) =>
        log({ event: "listing_store.failed", operation, error: describe(error) }),
      ),
      listingMemoryFor(plainEnv.MANIFESTS),
      log,
    ),
    listingStore,
    registry: (upstream, spending) =>
      new RemoteRegistry(
        new Transport(
          upstream,
          cache,
          plainEnv.OP_COUNTERS === "on" ? countFetch(invocation) : undefined,
          (event) => {
            upstreamStatuses.push(event.status);
            stats.upstream(upstream.prefix, event);
            reportQuota(env, upstream.prefix, event);
          },
          quotaPoolFor(plainEnv, upstream),
          () => spending?.charge(),
        ),
        referrersSupportFor(plainEnv.MANIFESTS),
      ),
    spending: (client, refused) =>
      new ClientSpending(client, spendingMemory, config.clientBudget, (kind) => {
        stats.budgetRefused(kind);
        refused?.(kind);
      }),
    upstreamStatuses,
    stats,
    events,
    // Counted (OP_COUNTERS): its one stats object call a minute per isolate shows in the benchmark.
    quarantine: quarantineFor(env),
    log,
    // Counts live per isolate (keyed by the KV binding: per test file in tests); the binding is shared.
    authThrottle: throttleFor(plainEnv.MANIFESTS, plainEnv.AUTH_FAILURES),
    // Each issuer's keys are kept by the isolate, like the throttle's counts.
    oidc: config.oidc && new OidcVerifier(config.oidc, (issuer) => issuerKeysFor(plainEnv.MANIFESTS, issuer)),
    colo,
    // The plain binding: reading the totals is no operation of the pull path, so it is not counted.
    statsObject: statsStub(plainEnv.STATS),
    analytics: plainEnv.ANALYTICS ?? null,
    rateLimiter: config.rateLimit ? (plainEnv.RATE_LIMITER ?? null) : null,
    countsOperations: plainEnv.OP_COUNTERS === "on",
  };
}

/** Events stamped with an id and the time, and sent with the stats batch. */
function eventSinkFor(stats: StatsRecorder): EventSink {
  return {
    emit(event) {
      stats.event({ ...event, id: crypto.randomUUID(), time: new Date().toISOString() } as MirrorEvent);
    },
    resolved(resolution) {
      stats.resolved(resolution);
    },
  };
}

/**
 * The colo cache for a request, keyed on `COLO_CACHE_HOST` when set, else on the request's own host;
 * null when it is switched off or there is no request. Without a request (the cron) only a configured
 * host makes keys, see `coloCacheOf`.
 */
function coloCacheFor(config: Config, scope: RequestScope | undefined): Services["colo"] {
  if (!scope) return null;
  return coloCacheOf(config, scope.origin, scope.waitUntil);
}

/**
 * The colo cache with keys for `COLO_CACHE_HOST`, or else for the origin the request came to; null
 * when it is off, or when there is neither (the cron without COLO_CACHE_HOST).
 */
export function coloCacheOf(
  config: Config,
  requestOrigin: string | null,
  waitUntil: (promise: Promise<unknown>) => void,
): Services["colo"] {
  const settings = config.coloCache;
  const origin = settings?.host ? `https://${settings.host}` : requestOrigin;
  if (!settings || !origin || typeof caches === "undefined") return null;
  const cache = new WorkersColoCache(countCache(caches.default), {
    maxBytes: settings.maxBytes,
    ttlSeconds: settings.ttlSeconds,
    requestOrigin: requestOrigin ?? origin,
    keyOrigin: origin,
    waitUntil,
    failed: (operation, error) => log({ event: "colo_cache.failed", operation, error: describe(error) }),
  });
  return { cache, origin };
}

/**
 * Quota readings go to Analytics Engine (blob 1 `quota:<prefix>`, which no request's upstream can be;
 * blob 2 the account; doubles limit, remaining, window); a low or exhausted account is logged.
 */
function reportQuota(env: Env, prefix: string, event: UpstreamEvent): void {
  if (event.quota) {
    env.ANALYTICS?.writeDataPoint({
      indexes: [prefix],
      blobs: [`quota:${prefix}`, event.account],
      doubles: [event.quota.limit, event.quota.remaining, event.quota.window],
    });
  }
  const change = event.change;
  if (!change) return;
  const { account, limit, remaining, window, exhaustedUntil } = change.state;
  if (change.becameLow) {
    log({
      event: "upstream.quota_low",
      upstream: prefix,
      account,
      remaining: remaining ?? undefined,
      limit: limit ?? undefined,
      window: window ?? undefined,
    });
  }
  if (change.becameExhausted) {
    log({
      event: change.allExhausted ? "upstream.quota_all_exhausted" : "upstream.quota_exhausted",
      upstream: prefix,
      account,
      status: event.status,
      until: new Date(exhaustedUntil).toISOString(),
    });
  }
}

/**
 * Every pull the signature policy refuses (a manifest that does not verify under an `enforce` entry,
 * a blob no verified manifest names) comes here once: the audit line, and the place for events.
 */
function signatureRefused(refusal: SignatureRefusal): void {
  log({ event: "signature.refused", ...refusal });
}

// The log and its error descriptions live in their own module, which the objects import too.
export { describe, log };
