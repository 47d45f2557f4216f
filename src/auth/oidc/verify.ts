import { decodeJwt, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from "jose";
import type { OidcConfig, OidcIssuer } from "./config";
import { type IssuerKeys, KeysUnavailableError } from "./keys";
import { matchRules } from "./rules";

/**
 * Signature algorithms a token may use: the asymmetric ones. Never `none`, never `HS*` (a shared
 * secret: with the issuer's public key as the "secret", anyone could sign). The issuer's keys narrow
 * it further: an RSA key verifies only RSA signatures, an EC key only its own curve's.
 */
export const ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;
/**
 * Clock difference allowed between the issuer and the Worker, for `nbf` and `iat` (a token fresh from
 * an issuer whose clock is a little ahead). `exp` gets none: an expired token is refused at once, and
 * so nothing issued for it can outlive it.
 */
export const CLOCK_SKEW_SECONDS = 60;
/** Platform tokens are one to two kilobytes; anything this long is not one. */
export const MAX_TOKEN_CHARS = 16 * 1024;

/** Which check refused a token: the audit line says this, never the token. */
export type OidcCheck =
  | "malformed"
  | "issuer"
  | "algorithm"
  | "unknown_key"
  | "keys_unavailable"
  | "signature"
  | "audience"
  | "expired"
  | "not_yet_valid"
  | "issued_in_future"
  | "lifetime"
  | "missing_claim"
  | "subject"
  | "no_rule";

/** A verified token that some rule let in. */
export interface OidcIdentity {
  /** The issuer's name in `OIDC_ISSUERS`. */
  readonly issuer: string;
  readonly subject: string;
  /** `<prefix>/<repository>` patterns it may pull: the matching rules' `allow`. */
  readonly allow: readonly string[];
  /** The claims the matching rules named, with their values. */
  readonly matched: Readonly<Record<string, string>>;
  /** The token's `exp` (seconds since the epoch): nothing given for it may outlive it. */
  readonly expiresAt: number;
}

export type OidcResult =
  | { readonly ok: true; readonly identity: OidcIdentity }
  | {
      readonly ok: false;
      readonly check: OidcCheck;
      /** The issuer's name, once the token named a configured one. */
      readonly issuer?: string;
      /** Set only for a token whose signature was verified (its claims can then be believed). */
      readonly subject?: string;
      /** A little more on the check (the missing claim, why the keys could not be had). */
      readonly detail?: string;
    };

/** Verifies platform tokens (GitHub Actions, GitLab CI, Kubernetes) against the configured issuers. */
export class OidcVerifier {
  constructor(
    private readonly config: OidcConfig,
    private readonly keysOf: (issuer: OidcIssuer) => IssuerKeys,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the text looks like a JWT at all (three base64url parts): cheap, before any throttling. */
  static looksLikeJwt(token: string): boolean {
    return token.length <= MAX_TOKEN_CHARS && /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token);
  }

  async verify(token: string): Promise<OidcResult> {
    if (!OidcVerifier.looksLikeJwt(token)) return { ok: false, check: "malformed" };
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch {
      return { ok: false, check: "malformed" };
    }
    const issuer = [...this.config.issuers.values()].find((candidate) => candidate.issuer === unverified.iss);
    if (!issuer) return { ok: false, check: "issuer" };
    const refuse = (check: OidcCheck, more: { subject?: string; detail?: string } = {}): OidcResult => ({
      ok: false,
      check,
      issuer: issuer.name,
      ...more,
    });
    // Checked before any key is looked up, so `none` and `HS256` never cost a JWKS fetch.
    if (!(ALGORITHMS as readonly string[]).includes(String(header.alg))) return refuse("algorithm");

    const keys = this.keysOf(issuer);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (protectedHeader, jws) => keys.key(protectedHeader, jws), {
        issuer: issuer.issuer,
        audience: [...issuer.audiences],
        algorithms: [...ALGORITHMS],
        clockTolerance: CLOCK_SKEW_SECONDS,
        requiredClaims: ["exp", "sub"],
        currentDate: new Date(this.now()),
      }));
    } catch (error) {
      return refuse(...describeFailure(error, keys));
    }

    const now = this.now() / 1000;
    const exp = payload.exp as number;
    if (exp <= now) return refuse("expired", { subject: payload.sub });
    if (payload.iat !== undefined && payload.iat > now + CLOCK_SKEW_SECONDS) {
      return refuse("issued_in_future", { subject: payload.sub });
    }
    // A token's life is from its issue (or first validity) to its expiry: long-lived tokens are stolen
    // tokens waiting to be used.
    const start = payload.iat ?? payload.nbf ?? now;
    if (exp - start > this.config.maxLifetimeSeconds) return refuse("lifetime", { subject: payload.sub });
    const subject = payload.sub ?? "";
    if (subject.length === 0 || subject.length > 255) return refuse("subject");
    const match = matchRules(issuer, payload);
    if (!match) return refuse("no_rule", { subject });
    return {
      ok: true,
      identity: { issuer: issuer.name, subject, allow: match.allow, matched: match.matched, expiresAt: exp },
    };
  }
}

function describeFailure(error: unknown, keys: IssuerKeys): [OidcCheck, { detail?: string }?] {
  if (error instanceof KeysUnavailableError)
    return ["keys_unavailable", { detail: keys.lastError ?? undefined }];
  if (error instanceof errors.JWTExpired) return ["expired"];
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === "missing") return ["missing_claim", { detail: error.claim }];
    if (error.claim === "aud") return ["audience"];
    if (error.claim === "iss") return ["issuer"];
    if (error.claim === "nbf") return ["not_yet_valid"];
    return ["malformed", { detail: error.claim }];
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported)
    return ["algorithm"];
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return ["unknown_key"];
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return ["signature"];
  return ["malformed"];
}
