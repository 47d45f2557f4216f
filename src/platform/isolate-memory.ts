import type { UpstreamConfig } from "../config";
import type { RefusalMemory } from "../mirror/signed-manifests";
import type { ListingChecks } from "../storage/listing-store";
import type { ApprovalMemory } from "../storage/signature-approvals";
import { TagChecks } from "../storage/tag-check-memory";
import { accountNames, SharedQuotaPool } from "../upstream/quota-pool";
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
/** Digests the signature policy approved, and manifests it refused a moment ago. */
const approvalMemories = new WeakMap<KVNamespace, ApprovalMemory>();
const refusalMemories = new WeakMap<KVNamespace, RefusalMemory>();
/** What the isolate knows of each upstream's accounts' quota. */
const quotaPools = new WeakMap<KVNamespace, Map<string, SharedQuotaPool>>();

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

export function quotaPoolFor(env: Env, upstream: UpstreamConfig): SharedQuotaPool {
  const pools = remembered(quotaPools, env.MANIFESTS, () => new Map<string, SharedQuotaPool>());
  const names = accountNames(upstream);
  return remembered(pools, `${upstream.prefix}\n${names.join("\n")}`, () => {
    const stub = statsStub(env.STATS);
    return new SharedQuotaPool(names, stub ? () => stub.quotaState(upstream.prefix) : null);
  });
}

export function approvalMemoryFor(kv: KVNamespace): ApprovalMemory {
  return remembered(approvalMemories, kv, () => new Map());
}

export function refusalMemoryFor(kv: KVNamespace): RefusalMemory {
  return remembered(refusalMemories, kv, () => new Map());
}
