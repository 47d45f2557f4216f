import { z } from "zod";
import { ConfigError } from "../../config/error";
import { compileGlob, isValidClaimPattern, isValidGlob } from "../../util/glob";
import { isHttpsOrLoopback } from "../../util/trusted-url";

/** One rule: every claim pattern must match; then the token may pull `allow`. */
export interface OidcRule {
  readonly claims: ReadonlyArray<{ readonly name: string; readonly pattern: RegExp }>;
  /** `<prefix>/<repository>` patterns, as written (they travel in the mirror's own token). */
  readonly allow: readonly string[];
}

/** A trusted token issuer from `OIDC_ISSUERS`. */
export interface OidcIssuer {
  /** The key in `OIDC_ISSUERS`: names the issuer in audit lines (`oidc:<name>:<sub>`). */
  readonly name: string;
  /** Matched exactly against `iss`. */
  readonly issuer: string;
  /** At least one must be in `aud`. */
  readonly audiences: readonly string[];
  /** Where the keys are; null = from the issuer's discovery document. */
  readonly jwksUrl: string | null;
  readonly rules: readonly OidcRule[];
}

export interface OidcConfig {
  readonly issuers: ReadonlyMap<string, OidcIssuer>;
  /** Tokens whose `exp` is further than this past their `iat` are refused (`OIDC_MAX_TOKEN_LIFETIME`). */
  readonly maxLifetimeSeconds: number;
}

/** The user name a client logs in with when its password is an OIDC token. */
export const OIDC_USER = "oidc";
export const DEFAULT_MAX_TOKEN_LIFETIME = 86_400;

const trustedUrl = (what: string) =>
  z
    .string()
    .max(2048)
    .refine(isHttpsOrLoopback, `${what} must be an https:// URL (http:// only for localhost or 127.0.0.1)`);

const ruleSchema = z.strictObject({
  claims: z
    .record(
      z.string().regex(/^[A-Za-z0-9_.:/-]{1,128}$/, "claim names are letters, digits, _ . : / -"),
      z.string().refine(isValidClaimPattern, "must be a pattern like refs/heads/* (1-255 characters)"),
    )
    // Every repository on GitHub can get a token from GitHub's issuer, with any audience it likes:
    // a rule that names no claim would let all of them pull.
    .refine((claims) => Object.keys(claims).length > 0, "name at least one claim"),
  allow: z
    .array(z.string().refine(isValidGlob, "must be patterns like dockerhub/library/*"))
    .min(1, "name at least one pattern"),
});

const issuerSchema = z.strictObject({
  issuer: trustedUrl("issuer"),
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
    error: "must be a string or a list of strings",
  }),
  jwksUrl: trustedUrl("jwksUrl").optional(),
  rules: z.array(ruleSchema).min(1, "name at least one rule"),
});

const issuersSchema = z.record(
  z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, "issuer names are lower-case letters, digits, _ -"),
  issuerSchema,
);

/**
 * Parses `OIDC_ISSUERS` (and `OIDC_MAX_TOKEN_LIFETIME`); null when no issuer is configured. Errors name
 * the field, like the rest of the configuration.
 */
export function parseOidcIssuers(value: unknown, maxLifetime: unknown): OidcConfig | null {
  if (value === undefined || value === null || value === "") return null;
  let raw: unknown = value;
  if (typeof value === "string") {
    try {
      raw = JSON.parse(value);
    } catch {
      throw new ConfigError("invalid configuration: OIDC_ISSUERS: not valid JSON");
    }
  }
  const parsed = issuersSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = (issue?.path ?? []).map(String).join(".");
    // A bad record key's own message is one level down.
    const message = issue?.code === "invalid_key" ? issue.issues[0]?.message : issue?.message;
    throw new ConfigError(
      `invalid configuration: OIDC_ISSUERS${path ? `.${path}` : ""}: ${message ?? "invalid"}`,
    );
  }
  const issuers = new Map<string, OidcIssuer>();
  const seen = new Map<string, string>();
  for (const [name, entry] of Object.entries(parsed.data)) {
    const issuer = entry.issuer;
    const other = seen.get(issuer);
    if (other !== undefined) {
      throw new ConfigError(
        `invalid configuration: OIDC_ISSUERS.${name}.issuer: already the issuer of "${other}" (put both's rules in one entry)`,
      );
    }
    seen.set(issuer, name);
    issuers.set(name, {
      name,
      issuer,
      audiences: typeof entry.audience === "string" ? [entry.audience] : entry.audience,
      jwksUrl: entry.jwksUrl ?? null,
      rules: entry.rules.map((rule) => ({
        claims: Object.entries(rule.claims).map(([claim, pattern]) => ({
          name: claim,
          pattern: compileGlob(pattern),
        })),
        allow: rule.allow,
      })),
    });
  }
  if (issuers.size === 0) throw new ConfigError("invalid configuration: OIDC_ISSUERS: no issuers");
  return { issuers, maxLifetimeSeconds: readLifetime(maxLifetime) };
}

function readLifetime(value: unknown): number {
  if (value === undefined || value === null || value === "") return DEFAULT_MAX_TOKEN_LIFETIME;
  const seconds = typeof value === "number" ? value : Number(value);
  if (!Number.isInteger(seconds) || seconds < 60 || seconds > 7 * 86_400) {
    throw new ConfigError(
      "invalid configuration: OIDC_MAX_TOKEN_LIFETIME: must be a whole number of seconds from 60 to 604800",
    );
  }
  return seconds;
}
