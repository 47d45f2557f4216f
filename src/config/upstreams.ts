import { z } from "zod";
import { compileGlob, isValidGlob } from "../util/glob";
import { type Credentials, credentialVariables, readAccounts } from "./credentials";
import { type ConfigEnv, ConfigError } from "./error";

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

export const DEFAULT_TAG_TTL = 300;
export const DEFAULT_MAX_STALE = 7 * 24 * 3600;
export const DEFAULT_TIMEOUT = 20;
/** Percent of the pull quota kept for pulls the cache cannot answer (`quotaReserve`). */
export const DEFAULT_QUOTA_RESERVE = 10;

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

/** The upstreams of `UPSTREAMS`, their `?ns=` hosts, and which of them may share credentials. */
export interface ParsedUpstreams {
  readonly upstreams: Map<string, UpstreamConfig>;
  readonly byHost: Map<string, UpstreamConfig>;
  /** Prefixes whose `shareCredentials` is set. */
  readonly sharing: ReadonlySet<string>;
}

/** Parses and validates `UPSTREAMS` and each upstream's credentials; throws ConfigError naming the bad field. */
export function parseUpstreams(env: ConfigEnv): ParsedUpstreams {
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

  const sharing = new Set(
    Object.entries(parsed.data)
      .filter(([, value]) => value.shareCredentials)
      .map(([prefix]) => prefix),
  );
  return { upstreams, byHost, sharing };
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
