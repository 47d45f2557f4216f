import { z } from "zod";
import { type MirrorUser, parseUsers } from "../auth/users";
import { compileGlob, isValidGlob } from "../util/glob";
import { ConfigError } from "./error";
import { parseWarmImages } from "./warm-images";

/** One upstream registry, as configured under a path prefix. */
export interface UpstreamConfig {
  readonly prefix: string;
  /** Origin (and optional base path) of the registry, without a trailing slash. */
  readonly url: string;
  /** Adds `library/` to one-component names, as Docker Hub requires. */
  readonly library: boolean;
  /** Registry host names that containerd's `?ns=` maps to this upstream. */
  readonly hosts: readonly string[];
  /** Seconds a tag's manifest is served from the cache without asking the upstream. */
  readonly tagTtl: number;
  /**
   * Seconds past `tagTtl` that a tag's cached manifest may still be served while the upstream is in
   * trouble (unreachable, timing out, 5xx, 429). Tag entries are kept this long.
   */
  readonly maxStale: number;
  /** Seconds to wait for an upstream's response headers before treating it as unreachable. */
  readonly timeout: number;
  /** Repository patterns (upstream names) that may be pulled; all when empty. */
  readonly allow: readonly RegExp[];
  /** Repository patterns that may never be pulled (checked first). */
  readonly deny: readonly RegExp[];
  /**
   * Token realm hosts, besides the upstream's own registrable domain, that may receive its credentials
   * (e.g. `auth.docker.io`). A realm anywhere else is never asked.
   */
  readonly authHosts: readonly string[];
  /**
   * The accounts the mirror pulls with: `UPSTREAM_<PREFIX>_USERNAME`/`_PASSWORD` and the pool in
   * `UPSTREAM_<PREFIX>_CREDENTIALS`; empty = anonymous. Counted requests are spread over them.
   */
  readonly accounts: readonly Credentials[];
  /**
   * Percent of an account's pull quota kept in reserve: when every account is below it, tags are
   * revalidated with HEAD only (cached copies served stale) and warm-ups wait.
   */
  readonly quotaReserve: number;
}

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface Config {
  readonly upstreams: ReadonlyMap<string, UpstreamConfig>;
  /** Serves un-prefixed requests (Docker's `registry-mirrors`); absent = such requests are refused. */
  readonly defaultUpstream?: UpstreamConfig;
  /** `?ns=` host → upstream. */
  readonly byHost: ReadonlyMap<string, UpstreamConfig>;
  /** Blobs larger than this many bytes are stored with R2 multipart upload. */
  readonly multipartThreshold: number;
  /** Clients that may pull (`MIRROR_USERS`); null = client authentication is off. */
  readonly users: ReadonlyMap<string, MirrorUser> | null;
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
  /** Optional cap on the bytes of blobs stored; least recently served go first (`RETENTION_MAX_BYTES`). */
  readonly retentionMaxBytes: number | null;
  /** The colo cache (Workers Cache API) in front of R2 and KV; null when `COLO_CACHE_MAX_BYTES` is 0. */
  readonly coloCache: ColoCacheConfig | null;
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

export const DEFAULT_TAG_TTL = 300;
export const DEFAULT_MAX_STALE = 7 * 24 * 3600;
export const DEFAULT_TIMEOUT = 20;
/** Percent of the pull quota kept for pulls the cache cannot answer (`quotaReserve`). */
export const DEFAULT_QUOTA_RESERVE = 10;
/** Accounts in one `UPSTREAM_<PREFIX>_CREDENTIALS` pool; more would only make the secret unwieldy. */
export const MAX_ACCOUNTS = 50;
/** Just under R2's 5 GiB limit for a single put. */
export const DEFAULT_MULTIPART_THRESHOLD = 5 * 1024 ** 3 - 5 * 1024 ** 2;
/** The Cache API's per-object limit on most plans (512 MB). */
export const DEFAULT_COLO_CACHE_MAX_BYTES = 512_000_000;
/** A day: a colo's copy outlives a purge or a retention deletion elsewhere by at most this long. */
export const DEFAULT_COLO_CACHE_TTL = 86_400;
/** R2's smallest multipart part. */
export const MIN_MULTIPART_THRESHOLD = 5 * 1024 ** 2;

const PREFIX = /^[a-z0-9](?:[a-z0-9_-]{0,62})$/;
/** Prefixes that would shadow the API itself. */
const RESERVED_PREFIXES = new Set(["v2", "_"]);

const upstreamSchema = z.strictObject({
  url: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
    .refine((url) => !/[?#]/.test(url), "must not carry a query or fragment")
    .refine(
      (url) => !/^https?:\/\/[^/]*@/.test(url),
      "must not carry credentials (use the UPSTREAM_<PREFIX>_* secrets)",
    ),
  library: z.boolean().default(false),
  hosts: z
    .array(z.string().regex(/^[a-z0-9.-]+(?::\d+)?$/i, "must be host names (host or host:port)"))
    .default([]),
  tagTtl: z.number().int().min(0).default(DEFAULT_TAG_TTL),
  maxStale: z.number().int().min(0).default(DEFAULT_MAX_STALE),
  timeout: z.number().positive().max(300).default(DEFAULT_TIMEOUT),
  allow: z.array(z.string().refine(isValidGlob, "must be patterns like library/*")).default([]),
  deny: z.array(z.string().refine(isValidGlob, "must be patterns like library/*")).default([]),
  authHosts: z
    .array(
      z
        .string()
        .regex(
          /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/i,
          "must be host names",
        ),
    )
    .default([]),
  /**
   * An upstream with credentials may reach private repositories: anyone who can reach the mirror could
   * pull them. Say so explicitly when that is intended and neither client auth nor `allow` protects it.
   */
  shareCredentials: z.boolean().default(false),
  quotaReserve: z.number().min(0).max(100).default(DEFAULT_QUOTA_RESERVE),
});

const upstreamsSchema = z.record(z.string(), upstreamSchema);

/** The subset of the Worker environment that configures the mirror. */
export type ConfigEnv = Record<string, unknown>;

/** Environment variable names of an upstream's credentials: prefix upper-cased, other characters → `_`. */
export function credentialVariables(prefix: string): { username: string; password: string; pool: string } {
  const base = `UPSTREAM_${prefix.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
  return { username: `${base}_USERNAME`, password: `${base}_PASSWORD`, pool: `${base}_CREDENTIALS` };
}

/** Parses and validates the configuration; throws ConfigError naming the bad field. */
export function parseConfig(env: ConfigEnv): Config {
  const raw = readUpstreams(env.UPSTREAMS);
  const parsed = upstreamsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = ["UPSTREAMS", ...(issue?.path ?? []).map(String)].join(".");
    throw new ConfigError(`invalid configuration: ${path}: ${issue?.message ?? "invalid"}`);
  }

  const upstreams = new Map<string, UpstreamConfig>();
  const byHost = new Map<string, UpstreamConfig>();
  const byCredentialVariable = new Map<string, string>();
  for (const [prefix, value] of Object.entries(parsed.data)) {
    if (!PREFIX.test(prefix)) {
      throw new ConfigError(
        `invalid configuration: UPSTREAMS.${prefix.slice(0, 64)}: prefix must be lower-case letters, digits, '-' or '_'`,
      );
    }
    if (RESERVED_PREFIXES.has(prefix)) {
      throw new ConfigError(`invalid configuration: UPSTREAMS.${prefix}: prefix "${prefix}" is reserved`);
    }
    const variable = credentialVariables(prefix).username;
    const sharing = byCredentialVariable.get(variable);
    if (sharing) {
      throw new ConfigError(
        `invalid configuration: UPSTREAMS.${prefix}: its credentials would be read from the same ${variable} as "${sharing}"`,
      );
    }
    byCredentialVariable.set(variable, prefix);
    const upstream: UpstreamConfig = {
      prefix,
      url: value.url.replace(/\/+$/, ""),
      library: value.library,
      hosts: value.hosts.map((host) => host.toLowerCase()),
      tagTtl: value.tagTtl,
      maxStale: value.maxStale,
      timeout: value.timeout,
      allow: value.allow.map(compileGlob),
      deny: value.deny.map(compileGlob),
      authHosts: value.authHosts.map((host) => host.toLowerCase()),
      accounts: readAccounts(env, prefix),
      quotaReserve: value.quotaReserve,
    };
    upstreams.set(prefix, upstream);
    for (const host of new Set(upstream.hosts)) {
      const other = byHost.get(host);
      if (other) {
        throw new ConfigError(
          `invalid configuration: UPSTREAMS.${prefix}.hosts: "${host}" is already a host of "${other.prefix}"`,
        );
      }
      byHost.set(host, upstream);
    }
  }

  const users = parseUsers(env.MIRROR_USERS);
  // Checked here so a bad list fails loudly at once, not only when the cron runs.
  parseWarmImages(env.WARM_IMAGES, new Set(upstreams.keys()));
  for (const [prefix, upstream] of upstreams) {
    if (
      upstream.accounts.length > 0 &&
      !users &&
      upstream.allow.length === 0 &&
      !parsed.data[prefix]?.shareCredentials
    ) {
      throw new ConfigError(
        `invalid configuration: UPSTREAMS.${prefix}: the mirror holds credentials for it but nothing protects them: ` +
          `set MIRROR_USERS (client authentication) or UPSTREAMS.${prefix}.allow, or UPSTREAMS.${prefix}.shareCredentials = true if anyone may pull through them`,
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
  return {
    upstreams,
    defaultUpstream,
    byHost,
    multipartThreshold: readMultipartThreshold(env.MULTIPART_THRESHOLD),
    users,
    tokenKey:
      typeof env.MIRROR_TOKEN_KEY === "string" && env.MIRROR_TOKEN_KEY
        ? env.MIRROR_TOKEN_KEY
        : derivedTokenKey(env),
    rateLimit: env.RATE_LIMIT === "on",
    adminToken: typeof env.ADMIN_TOKEN === "string" && env.ADMIN_TOKEN.length > 0 ? env.ADMIN_TOKEN : null,
    statsFlushMs: readNumber(env, "STATS_FLUSH_SECONDS", 10, 0, 3600) * 1000,
    retentionDays: readNumber(env, "RETENTION_DAYS", 30, 1, 3650),
    retentionMaxBytes: env.RETENTION_MAX_BYTES
      ? readNumber(env, "RETENTION_MAX_BYTES", 0, 1, Number.MAX_SAFE_INTEGER)
      : null,
    coloCache: readColoCache(env),
  };
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

function readUpstreams(value: unknown): unknown {
  if (value === undefined || value === null || value === "") {
    throw new ConfigError("invalid configuration: UPSTREAMS: missing");
  }
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    throw new ConfigError("invalid configuration: UPSTREAMS: not valid JSON");
  }
}

/**
 * Without `MIRROR_TOKEN_KEY`, tokens are signed with a key made from the users' secret: changing the
 * users invalidates every token, and no extra secret is needed.
 */
function derivedTokenKey(env: ConfigEnv): string {
  const users =
    typeof env.MIRROR_USERS === "string" ? env.MIRROR_USERS : JSON.stringify(env.MIRROR_USERS ?? "");
  return `mirror-token-key:${users}`;
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

/** The single pair, then the pool; names the variables and the entry at fault, never a value. */
function readAccounts(env: ConfigEnv, prefix: string): Credentials[] {
  const names = credentialVariables(prefix);
  const username = env[names.username];
  const password = env[names.password];
  const hasUser = typeof username === "string" && username !== "";
  const hasPassword = typeof password === "string" && password !== "";
  if (hasUser !== hasPassword) {
    throw new ConfigError(
      `invalid configuration: ${hasUser ? names.password : names.username}: must be set together with ${
        hasUser ? names.username : names.password
      }`,
    );
  }
  const accounts: Credentials[] = [];
  if (hasUser && hasPassword) accounts.push({ username: username as string, password: password as string });
  for (const [index, account] of readPool(env[names.pool], names.pool).entries()) {
    const same = accounts.findIndex((other) => other.username === account.username);
    if (same >= 0) {
      throw new ConfigError(
        `invalid configuration: ${names.pool}[${index}]: the same username as ${
          same === 0 && hasUser ? names.username : `${names.pool}[${same - (hasUser ? 1 : 0)}]`
        }`,
      );
    }
    accounts.push(account);
  }
  return accounts;
}

/** `UPSTREAM_<PREFIX>_CREDENTIALS`: `[{"username":"…","password":"…"}, …]`. */
function readPool(value: unknown, variable: string): Credentials[] {
  if (value === undefined || value === null || value === "") return [];
  const shape = `must be a JSON array of {"username": "…", "password": "…"}`;
  let parsed: unknown = value;
  if (typeof value === "string") {
    try {
      parsed = JSON.parse(value);
    } catch {
      // JSON.parse's own message quotes the text: it could carry a password.
      throw new ConfigError(`invalid configuration: ${variable}: not valid JSON (${shape})`);
    }
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    throw new ConfigError(`invalid configuration: ${variable}: ${shape}`);
  }
  if (parsed.length > MAX_ACCOUNTS) {
    throw new ConfigError(`invalid configuration: ${variable}: at most ${MAX_ACCOUNTS} accounts`);
  }
  return parsed.map((entry: unknown, index) => {
    const at = `invalid configuration: ${variable}[${index}]`;
    if (!entry || typeof entry !== "object" || Array.isArray(entry)) throw new ConfigError(`${at}: ${shape}`);
    const record = entry as Record<string, unknown>;
    if (Object.keys(record).some((key) => key !== "username" && key !== "password")) {
      throw new ConfigError(`${at}: only "username" and "password" may be given`);
    }
    for (const field of ["username", "password"] as const) {
      if (typeof record[field] !== "string" || record[field] === "") {
        throw new ConfigError(`${at}: ${field} must be a non-empty string`);
      }
    }
    return { username: record.username as string, password: record.password as string };
  });
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
