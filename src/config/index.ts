import { OIDC_USER, type OidcConfig, parseOidcIssuers } from "../auth/oidc/config";
import { type MirrorUser, parseUsers } from "../auth/users";
import { type ConfigEnv, ConfigError } from "./error";
import { parseSignaturePolicy, type SignaturePolicy } from "./signature-policy";
import { parseUpstreams, type UpstreamConfig } from "./upstreams";
import { parseWarmImages } from "./warm-images";
import { parseWebhooks, type WebhookConfig } from "./webhooks";

export { type Credentials, credentialVariables, MAX_ACCOUNTS } from "./credentials";
export {
  entryName,
  policyEntryFor,
  type SignaturePolicy,
  type SignaturePolicyEntry,
} from "./signature-policy";
export {
  DEFAULT_MAX_STALE,
  DEFAULT_QUOTA_RESERVE,
  DEFAULT_TAG_TTL,
  DEFAULT_TIMEOUT,
  type UpstreamConfig,
} from "./upstreams";
export type { ConfigEnv, WebhookConfig };

/**
 * The Workers plan the mirror is deployed on (`PLAN`). "free": every invocation stays within the Free
 * plan's 10 ms of CPU and 50 subrequests, so no code touches a large blob's bytes (see README).
 */
export type Plan = "paid" | "free";

export interface Config {
  readonly plan: Plan;
  readonly upstreams: ReadonlyMap<string, UpstreamConfig>;
  /** Serves un-prefixed requests (Docker's `registry-mirrors`); absent = such requests are refused. */
  readonly defaultUpstream?: UpstreamConfig;
  /** `?ns=` host → upstream. */
  readonly byHost: ReadonlyMap<string, UpstreamConfig>;
  /** Blobs larger than this many bytes are stored with R2 multipart upload. */
  readonly multipartThreshold: number;
  /**
   * Blobs larger than this many bytes (`SPOOL_MAX_BYTES`) are not spooled in their fill object's storage
   * (10 GB per object): they go to R2 as they stream to their first client.
   */
  readonly spoolMaxBytes: number;
  /**
   * What the blob fills of one isolate may hold in memory at once (`FILL_MEMORY_BYTES`): rows kept for
   * readers, small blobs spooled in memory, chunks on their way. A production isolate has 128 MB in all.
   */
  readonly fillMemoryBytes: number;
  /**
   * How far a client of a blob stored as it streams may fall behind the download
   * (`CLIENT_WINDOW_BYTES`): further behind, it continues on its own from R2 or the upstream.
   */
  readonly clientWindowBytes: number;
  /** Clients that may pull (`MIRROR_USERS`); null = client authentication is off. */
  readonly users: ReadonlyMap<string, MirrorUser> | null;
  /** Trusted platform token issuers (`OIDC_ISSUERS`); null = no client logs in with an OIDC token. */
  readonly oidc: OidcConfig | null;
  /** Whether clients must authenticate: `MIRROR_USERS` or `OIDC_ISSUERS` is set. */
  readonly clientAuth: boolean;
  /** Key for the mirror's own tokens; derived from the users when `MIRROR_TOKEN_KEY` is not set. */
  readonly tokenKey: string;
  /** Whether to apply the `RATE_LIMITER` binding (`RATE_LIMIT=on`). */
  readonly rateLimit: boolean;
  /** Bearer token of the admin endpoints (`ADMIN_TOKEN`); null = they are off. */
  readonly adminToken: string | null;
  /** How often an isolate sends its counts to the stats object (`STATS_FLUSH_SECONDS`, default 10). */
  readonly statsFlushMs: number;
  /** Blobs not served for this many days are deleted by the retention job (`RETENTION_DAYS`, default 30). */
  readonly retentionDays: number;
  /**
   * Cap on the bytes of blobs stored; least recently served go first (`RETENTION_MAX_BYTES`, default
   * DEFAULT_RETENTION_MAX_BYTES; 0 = no cap).
   */
  readonly retentionMaxBytes: number | null;
  /**
   * What one client (a user, or an anonymous IPv4 address or IPv6 /64) may spend per hour:
   * `CLIENT_BUDGET_REQUESTS` counted upstream requests, `CLIENT_BUDGET_BYTES` bytes of fills it hung
   * up on (0 = no limit).
   */
  readonly clientBudget: SpendingLimits;
  /** The colo cache (Workers Cache API) in front of R2 and KV; null when `COLO_CACHE_MAX_BYTES` is 0. */
  readonly coloCache: ColoCacheConfig | null;
  /** Where events go (`EVENT_WEBHOOKS`, a secret): url, signing secret, event types. */
  readonly eventWebhooks: readonly WebhookConfig[];
  /** Which repositories' manifests must be signed, and by whom (`SIGNATURE_POLICY`); null = none. */
  readonly signaturePolicy: SignaturePolicy | null;
}

/** What one client may spend per clock hour; 0 = no limit. */
export interface SpendingLimits {
  /** Counted upstream requests (manifest GETs: what Docker Hub's pull quota counts). */
  readonly requests: number;
  /** Bytes stored from blob fills whose client hung up before the blob's end. */
  readonly bytes: number;
}

export interface ColoCacheConfig {
  /** Largest object put into the colo cache (`COLO_CACHE_MAX_BYTES`; the Cache API's per-object limit). */
  readonly maxBytes: number;
  /** `max-age` of colo cache entries (`COLO_CACHE_TTL`): how long other data centres may keep one. */
  readonly ttlSeconds: number;
  /** Host the entries' keys are made for (`COLO_CACHE_HOST`); null = the host each request came to. */
  readonly host: string | null;
}

export { ConfigError };

/** Just under R2's 5 GiB limit for a single put. */
export const DEFAULT_MULTIPART_THRESHOLD = 5 * 1024 ** 3 - 5 * 1024 ** 2;
/** The Cache API's per-object limit on most plans (512 MB). */
export const DEFAULT_COLO_CACHE_MAX_BYTES = 512_000_000;
/** A day: a colo's copy outlives a purge or a retention deletion elsewhere by at most this long. */
export const DEFAULT_COLO_CACHE_TTL = 86_400;
/** R2's smallest multipart part. */
export const MIN_MULTIPART_THRESHOLD = 5 * 1024 ** 2;
/** A Durable Object holds at most 10 GB: a spool stays well below it, with room for SQLite's own pages. */
export const DEFAULT_SPOOL_MAX_BYTES = 8 * 1024 ** 3;
/** A third of an isolate's 128 MB: the rest is the JS heap's and the runtime's. */
export const DEFAULT_FILL_MEMORY_BYTES = 48 * 1024 ** 2;
/** A slow client may hold this much of a store-through download in memory (the isolate has 128 MB). */
export const DEFAULT_CLIENT_WINDOW_BYTES = 16 * 1024 ** 2;

/**
 * Stored blobs are capped at 50 GB unless `RETENTION_MAX_BYTES` says otherwise (0 = no cap): about
 * $0.75 a month of R2 at most, whatever clients pull.
 */
export const DEFAULT_RETENTION_MAX_BYTES = 50_000_000_000;
/**
 * Per client and hour: 50 counted upstream requests (half of one authenticated Docker Hub account's
 * hourly pulls, so no one client drains a pool) and 5 GiB of fills it hung up on.
 */
export const DEFAULT_CLIENT_BUDGET: SpendingLimits = { requests: 50, bytes: 5 * 1024 ** 3 };

/** Parses and validates the configuration; throws ConfigError naming the bad field. */
export function parseConfig(env: ConfigEnv): Config {
  const { upstreams, byHost, sharing } = parseUpstreams(env);
  const users = parseUsers(env.MIRROR_USERS);
  const oidc = parseOidcIssuers(env.OIDC_ISSUERS, env.OIDC_MAX_TOKEN_LIFETIME);
  if (oidc && users?.has(OIDC_USER)) {
    throw new ConfigError(
      `invalid configuration: MIRROR_USERS.${OIDC_USER}: with OIDC_ISSUERS set, "${OIDC_USER}" is the user name of OIDC logins`,
    );
  }
  // Checked here so a bad list fails loudly at once, not only when the cron runs.
  const warmImages = parseWarmImages(env.WARM_IMAGES, new Set(upstreams.keys()));
  for (const [prefix, upstream] of upstreams) {
    if (
      upstream.accounts.length > 0 &&
      !users &&
      !oidc &&
      upstream.allow.length === 0 &&
      !sharing.has(prefix)
    ) {
      throw new ConfigError(
        `invalid configuration: UPSTREAMS.${prefix}: the mirror holds credentials for it but nothing protects them: ` +
          `set MIRROR_USERS or OIDC_ISSUERS (client authentication) or UPSTREAMS.${prefix}.allow, or UPSTREAMS.${prefix}.shareCredentials = true if anyone may pull through them`,
      );
    }
  }

  const defaultName = typeof env.DEFAULT_UPSTREAM === "string" ? env.DEFAULT_UPSTREAM.trim() : "";
  const defaultUpstream = defaultName ? upstreams.get(defaultName) : undefined;
  if (defaultName && !defaultUpstream) {
    throw new ConfigError(
      `invalid configuration: DEFAULT_UPSTREAM: "${defaultName}" is not a prefix in UPSTREAMS`,
    );
  }
  const plan = readPlan(env.PLAN);
  if (plan === "free" && warmImages.length > 0) {
    throw new ConfigError(
      'invalid configuration: WARM_IMAGES: warm-ups need more than the 50 subrequests a cron run has on the Free plan (PLAN = "free"): leave it empty',
    );
  }
  return {
    plan,
    upstreams,
    defaultUpstream,
    byHost,
    multipartThreshold: readMultipartThreshold(env.MULTIPART_THRESHOLD),
    spoolMaxBytes: readNumber(
      env,
      "SPOOL_MAX_BYTES",
      DEFAULT_SPOOL_MAX_BYTES,
      1024 ** 2,
      DEFAULT_SPOOL_MAX_BYTES,
    ),
    // At least a few chunks (1 MiB each) in flight; at most what leaves an isolate room for its heap.
    fillMemoryBytes: readNumber(
      env,
      "FILL_MEMORY_BYTES",
      DEFAULT_FILL_MEMORY_BYTES,
      4 * 1024 ** 2,
      96 * 1024 ** 2,
    ),
    clientWindowBytes: readNumber(
      env,
      "CLIENT_WINDOW_BYTES",
      DEFAULT_CLIENT_WINDOW_BYTES,
      1024 ** 2,
      64 * 1024 ** 2,
    ),
    users,
    oidc,
    clientAuth: users !== null || oidc !== null,
    tokenKey: readTokenKey(env, users !== null, oidc !== null),
    rateLimit: env.RATE_LIMIT === "on",
    adminToken: typeof env.ADMIN_TOKEN === "string" && env.ADMIN_TOKEN.length > 0 ? env.ADMIN_TOKEN : null,
    statsFlushMs: readNumber(env, "STATS_FLUSH_SECONDS", 10, 0, 3600) * 1000,
    retentionDays: readNumber(env, "RETENTION_DAYS", 30, 1, 3650),
    retentionMaxBytes:
      readNumber(env, "RETENTION_MAX_BYTES", DEFAULT_RETENTION_MAX_BYTES, 0, Number.MAX_SAFE_INTEGER) || null,
    clientBudget: {
      requests: readNumber(env, "CLIENT_BUDGET_REQUESTS", DEFAULT_CLIENT_BUDGET.requests, 0, 1_000_000),
      bytes: readNumber(env, "CLIENT_BUDGET_BYTES", DEFAULT_CLIENT_BUDGET.bytes, 0, Number.MAX_SAFE_INTEGER),
    },
    coloCache: readColoCache(env),
    eventWebhooks: parseWebhooks(env.EVENT_WEBHOOKS),
    signaturePolicy: parseSignaturePolicy(
      env.SIGNATURE_POLICY,
      new Set(upstreams.keys()),
      env.SIGSTORE_TRUSTED_ROOT,
    ),
  };
}

function readPlan(value: unknown): Plan {
  if (value === undefined || value === null || value === "" || value === "paid") return "paid";
  if (value === "free") return "free";
  throw new ConfigError('invalid configuration: PLAN: must be "free" or "paid"');
}

function readColoCache(env: ConfigEnv): ColoCacheConfig | null {
  const maxBytes = readNumber(env, "COLO_CACHE_MAX_BYTES", DEFAULT_COLO_CACHE_MAX_BYTES, 0, 5 * 1024 ** 3);
  if (maxBytes === 0) return null;
  const host = typeof env.COLO_CACHE_HOST === "string" ? env.COLO_CACHE_HOST.trim().toLowerCase() : "";
  if (host && !/^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::\d{1,5})?$/.test(host)) {
    throw new ConfigError(
      "invalid configuration: COLO_CACHE_HOST: must be a host name, like mirror.example.com",
    );
  }
  return {
    maxBytes,
    // At most a year, like the blobs' own Cache-Control.
    ttlSeconds: readNumber(env, "COLO_CACHE_TTL", DEFAULT_COLO_CACHE_TTL, 60, 31_536_000),
    host: host || null,
  };
}

/**
 * Without `MIRROR_TOKEN_KEY`, tokens are signed with a key made from the users' secret (and the OIDC
 * rules): changing either invalidates every token, and no extra secret is needed. With OIDC alone
 * there is no secret to make one from (`OIDC_ISSUERS` is a plain variable): the key must be given.
 */
function readTokenKey(env: ConfigEnv, users: boolean, oidc: boolean): string {
  const given = typeof env.MIRROR_TOKEN_KEY === "string" ? env.MIRROR_TOKEN_KEY : "";
  if (oidc && !users && given.length < 32) {
    throw new ConfigError(
      "invalid configuration: MIRROR_TOKEN_KEY: with OIDC_ISSUERS and no MIRROR_USERS, set this secret (at least 32 characters) to sign the mirror's own tokens",
    );
  }
  if (given) return given;
  const text = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value ?? ""));
  return `mirror-token-key:${text(env.MIRROR_USERS)}${oidc ? `\n${text(env.OIDC_ISSUERS)}` : ""}`;
}

function readNumber(env: ConfigEnv, name: string, fallback: number, min: number, max: number): number {
  const value = env[name];
  if (value === undefined || value === null || value === "") return fallback;
  const number = typeof value === "number" ? value : Number(value);
  if (!Number.isFinite(number) || number < min || number > max) {
    throw new ConfigError(`invalid configuration: ${name}: must be a number from ${min} to ${max}`);
  }
  return number;
}

function readMultipartThreshold(value: unknown): number {
  if (value === undefined || value === null || value === "") return DEFAULT_MULTIPART_THRESHOLD;
  const bytes = typeof value === "number" ? value : Number(value);
  if (!Number.isInteger(bytes) || bytes < MIN_MULTIPART_THRESHOLD || bytes > DEFAULT_MULTIPART_THRESHOLD) {
    throw new ConfigError(
      `invalid configuration: MULTIPART_THRESHOLD: must be a whole number of bytes from ${MIN_MULTIPART_THRESHOLD} to ${DEFAULT_MULTIPART_THRESHOLD}`,
    );
  }
  return bytes;
}

const cache = new WeakMap<object, Config>();

/** Parses the configuration once per environment object (once per isolate in production). */
export function configFor(env: ConfigEnv): Config {
  let config = cache.get(env);
  if (!config) {
    config = parseConfig(env);
    cache.set(env, config);
  }
  return config;
}
