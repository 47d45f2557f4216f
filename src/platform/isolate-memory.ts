import { Quarantine } from "../access/quarantine";
import { SpendingMemory } from "../access/spending";
import type { OidcIssuer } from "../auth/oidc/config";
import { IssuerKeys } from "../auth/oidc/keys";
import type { UpstreamConfig } from "../config";
import type { RefusalMemory, SignatureChecks } from "../mirror/signed-manifests";
import { ListingMemory } from "../storage/listing-memory";
import type { ListingChecks } from "../storage/listing-store";
import type { ApprovalMemory } from "../storage/signature-approvals";
import { TagChecks } from "../storage/tag-check-memory";
import { accountNames, SharedQuotaPool } from "../upstream/quota-pool";
import { ReferrersSupport } from "../upstream/referrers-support";
import { TokenCache } from "../upstream/tokens";
import { remembered } from "../util/remembered";
import type { Env } from "./env";
import { statsStub } from "./stats-recorder";

// What an isolate remembers between requests. Each memory is kept per KV namespace: one per isolate
// in production, one per test file in tests (each file has its own bindings).

const tokenCaches = new WeakMap<KVNamespace, TokenCache>();
/** Tag checks not yet written. */
const tagChecks = new WeakMap<KVNamespace, TagChecks>();
/** Listing checks not yet written. */
const listingChecks = new WeakMap<KVNamespace, ListingChecks>();
/** Each OIDC issuer's signing keys, by issuer name, URL and JWKS URL. */
const issuerKeys = new WeakMap<KVNamespace, Map<string, IssuerKeys>>();
/** Digests the signature policy approved, and manifests it refused a moment ago. */
const approvalMemories = new WeakMap<KVNamespace, ApprovalMemory>();
const refusalMemories = new WeakMap<KVNamespace, RefusalMemory>();
const verifications = new WeakMap<KVNamespace, SignatureChecks["verifying"]>();
/** Listing answers kept in memory only (pages after a client's `last`, empty referrers). */
const listingMemories = new WeakMap<KVNamespace, ListingMemory>();
/** Which upstreams were found without a referrers API. */
const referrersSupports = new WeakMap<KVNamespace, ReferrersSupport>();
/** What the isolate knows of each upstream's accounts' quota. */
const quotaPools = new WeakMap<KVNamespace, Map<string, SharedQuotaPool>>();

/** The quarantine list as this isolate knows it. */
const quarantines = new WeakMap<KVNamespace, Quarantine>();

/**
 * Tokens stay in the isolate's memory. Sharing them through KV cost a KV write per scope every few
 * minutes (KV's free plan allows 1,000 writes a day) to save token requests, which cost no quota.
 */
export function tokenCacheFor(kv: KVNamespace): TokenCache {
  return remembered(tokenCaches, kv, () => new TokenCache());
}

export function tagChecksFor(kv: KVNamespace): TagChecks {
  return remembered(tagChecks, kv, () => new TagChecks());
}

export function listingChecksFor(kv: KVNamespace): ListingChecks {
  return remembered(listingChecks, kv, () => new Map());
}

export function listingMemoryFor(kv: KVNamespace): ListingMemory {
  return remembered(listingMemories, kv, () => new ListingMemory());
}

export function referrersSupportFor(kv: KVNamespace): ReferrersSupport {
  return remembered(referrersSupports, kv, () => new ReferrersSupport());
}

export function quotaPoolFor(env: Env, upstream: UpstreamConfig): SharedQuotaPool {
  const pools = remembered(quotaPools, env.MANIFESTS, () => new Map<string, SharedQuotaPool>());
  const names = accountNames(upstream);
  return remembered(pools, `${upstream.prefix}\n${names.join("\n")}`, () => {
    const stub = statsStub(env.STATS);
    return new SharedQuotaPool(names, stub ? () => stub.quotaState(upstream.prefix) : null);
  });
}

/**
 * An OIDC issuer's keys, kept by the isolate: fetched once per cache lifetime, not per request. Found
 * by everything that decides where they come from, so a changed configuration starts afresh.
 */
export function issuerKeysFor(kv: KVNamespace, issuer: OidcIssuer): IssuerKeys {
  const byIssuer = remembered(issuerKeys, kv, () => new Map<string, IssuerKeys>());
  return remembered(
    byIssuer,
    `${issuer.name}\n${issuer.issuer}\n${issuer.jwksUrl ?? ""}`,
    // `fetch` looked up at call time (tests replace it).
    () => new IssuerKeys(issuer, (url, init) => fetch(url, init)),
  );
}

export function approvalMemoryFor(kv: KVNamespace): ApprovalMemory {
  return remembered(approvalMemories, kv, () => new Map());
}

export function refusalMemoryFor(kv: KVNamespace): RefusalMemory {
  return remembered(refusalMemories, kv, () => new Map());
}

/**
 * The quarantine list, read from the stats object at most once a minute per isolate; without the stats
 * binding there is no list (and no way to make one).
 */
export function quarantineFor(env: Env): Quarantine {
  return remembered(quarantines, env.MANIFESTS, () => {
    const stub = statsStub(env.STATS);
    return new Quarantine(stub ? (known) => stub.quarantined(known) : null);
  });
}

export function verificationsFor(kv: KVNamespace): SignatureChecks["verifying"] {
  return remembered(verifications, kv, () => new Map());
}

const spendingMemories = new WeakMap<KVNamespace, SpendingMemory>();

/** What clients spent in this isolate this hour (the budget's own counts; the stats object's are shared). */
export function spendingMemoryFor(kv: KVNamespace): SpendingMemory {
  return remembered(spendingMemories, kv, () => new SpendingMemory());
}
