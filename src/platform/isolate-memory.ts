import type { UpstreamConfig } from "../config";
import type { ListingChecks } from "../storage/listing-store";
import { TagChecks } from "../storage/tag-check-memory";
import { accountNames, SharedQuotaPool } from "../upstream/quota-pool";
import { TokenCache } from "../upstream/tokens";
import type { Env } from "./env";
import { statsStub } from "./stats-recorder";

// What an isolate remembers between requests. Each memory is kept per KV namespace: one per isolate
// in production, one per test file in tests (each file has its own bindings).

/** Token caches live as long as the isolate. */
const tokenCaches = new WeakMap<KVNamespace, TokenCache>();

/**
 * Tokens stay in the isolate's memory. Sharing them through KV cost a KV write per scope every few
 * minutes (KV's free plan allows 1,000 writes a day) to save token requests, which cost no quota.
 */
export function tokenCacheFor(kv: KVNamespace): TokenCache {
  let tokens = tokenCaches.get(kv);
  if (!tokens) {
    tokens = new TokenCache();
    tokenCaches.set(kv, tokens);
  }
  return tokens;
}
/** Tag checks not yet written, likewise per isolate and KV namespace. */
const tagChecks = new WeakMap<KVNamespace, TagChecks>();
/** Listing checks not yet written, likewise. */
const listingChecks = new WeakMap<KVNamespace, ListingChecks>();

export function listingChecksFor(kv: KVNamespace): ListingChecks {
  let checks = listingChecks.get(kv);
  if (!checks) {
    checks = new Map();
    listingChecks.set(kv, checks);
  }
  return checks;
}

/** What the isolate knows of each upstream's accounts' quota, likewise. */
const quotaPools = new WeakMap<KVNamespace, Map<string, SharedQuotaPool>>();

export function quotaPoolFor(env: Env, upstream: UpstreamConfig): SharedQuotaPool {
  let pools = quotaPools.get(env.MANIFESTS);
  if (!pools) {
    pools = new Map();
    quotaPools.set(env.MANIFESTS, pools);
  }
  const names = accountNames(upstream);
  const key = `${upstream.prefix}\n${names.join("\n")}`;
  let pool = pools.get(key);
  if (!pool) {
    const stub = statsStub(env.STATS);
    pool = new SharedQuotaPool(names, stub ? () => stub.quotaState(upstream.prefix) : null);
    pools.set(key, pool);
  }
  return pool;
}

export function tagChecksFor(kv: KVNamespace): TagChecks {
  let checks = tagChecks.get(kv);
  if (!checks) {
    checks = new TagChecks();
    tagChecks.set(kv, checks);
  }
  return checks;
}
