import { decode, sign, verify } from "hono/jwt";
import { OIDC_USER } from "../auth/oidc/config";
import type { OidcIdentity, OidcVerifier } from "../auth/oidc/verify";
import type { AuthThrottle } from "../auth/throttle";
import { decoyFor, type MirrorUser } from "../auth/users";
import type { Config } from "../config";
import type { Log } from "../mirror/types";
import { RegistryError } from "../oci/errors";
import { compileGlob, isValidGlob } from "../util/glob";

/**
 * Who is pulling: a configured user, a workload that logged in with a platform token (its user is
 * `oidc:<issuer name>:<sub>`, its allow list the matching rules'), or nobody in particular when client
 * authentication is off.
 */
export interface Identity {
  readonly user: MirrorUser | null;
  readonly oidc?: OidcLogin;
}

/** What an OIDC login carries into the mirror's own token. */
export interface OidcLogin {
  readonly allow: readonly string[];
  /** The claims the rules matched on, for the audit log. */
  readonly matched: Readonly<Record<string, string>>;
  /** The platform token's `exp`: no token of the mirror outlives it. */
  readonly expiresAt: number;
}

export const ANONYMOUS: Identity = { user: null };

/** Lifetime of the mirror's own tokens; clients ask for a new one when it runs out. */
export const TOKEN_LIFETIME_SECONDS = 300;
const ISSUER = "edge-registry-mirror";

/** What checking a client's credentials needs from the services. */
export interface AuthServices {
  readonly config: Config;
  readonly authThrottle: AuthThrottle;
  readonly oidc: OidcVerifier | null;
  readonly log: Log;
}

/**
 * Authenticates a registry request: `Basic` credentials (a user's password, or user `oidc` with a
 * platform token), a `Bearer` token this mirror issued at `/token`, or a platform token as the Bearer
 * itself. Without valid ones the answer is 401 with the challenge `docker login`, skopeo, podman and
 * containerd follow (Bearer, realm = this mirror's token endpoint). Password and platform token checks
 * are throttled (see AuthThrottle); a forged mirror token costs one HMAC, not a guess, and is
 * not counted.
 */
export async function authenticate(request: Request, services: AuthServices): Promise<Identity> {
  if (!services.config.clientAuth) return ANONYMOUS;
  const header = request.headers.get("Authorization") ?? "";
  const [scheme = "", value = ""] = header.split(" ", 2);
  let identity: Identity | null = null;
  if (scheme.toLowerCase() === "basic") {
    identity = await checkBasic(services, value, clientIp(request));
  } else if (scheme.toLowerCase() === "bearer") {
    identity = isMirrorToken(value)
      ? await checkToken(services.config, value, serviceOf(request))
      : services.oidc
        ? await checkOidc(services, value, clientIp(request))
        : null;
  }
  if (identity) return identity;
  throw unauthorized(request);
}

export function unauthorized(request: Request): RegistryError {
  const url = new URL(request.url);
  return new RegistryError(401, "UNAUTHORIZED", "authentication required", {
    "WWW-Authenticate": `Bearer realm="${url.origin}/token",service="${serviceOf(request)}"`,
  });
}

/**
 * What a client gets for an error that is a 401 without a challenge: that can only be an upstream's
 * refusal (bad upstream credentials, a private repository), since the mirror's own 401s carry one, and
 * the upstream's challenge is never passed on (it names the upstream's realm). A client answers a 401
 * by logging in, so: with client authentication on, the mirror's own challenge; with it off there is
 * nothing to log in to, so `403 DENIED` (naming the upstream), which Docker and containerd report as a
 * denied pull instead of looping on a login.
 */
export function forClient(error: RegistryError, request: Request, config: Config | undefined): RegistryError {
  const challenged = Object.keys(error.headers).some((name) => name.toLowerCase() === "www-authenticate");
  if (error.status !== 401 || challenged) return error;
  if (config?.clientAuth) {
    return new RegistryError(401, "UNAUTHORIZED", error.message, {
      ...error.headers,
      ...unauthorized(request).headers,
    });
  }
  return new RegistryError(403, "DENIED", error.message, error.headers);
}

/**
 * Issues the mirror's token for a client who proved who it is (Basic header or OAuth2 password grant).
 * An OIDC login's token carries its allow list and claims, and expires no later than the platform
 * token did. `expiresIn` is its lifetime in seconds.
 */
export async function issueToken(
  identity: Identity,
  config: Config,
  service: string,
): Promise<{ token: string; expiresIn: number }> {
  const now = Math.floor(Date.now() / 1000);
  const name = identity.user?.name ?? "";
  const exp = Math.min(now + TOKEN_LIFETIME_SECONDS, identity.oidc?.expiresAt ?? Number.POSITIVE_INFINITY);
  const oidc = identity.oidc ? { allow: identity.oidc.allow, claims: identity.oidc.matched } : {};
  const token = await sign(
    { iss: ISSUER, sub: name, aud: service, iat: now, nbf: now - 5, exp, ...oidc },
    config.tokenKey,
    "HS256",
  );
  return { token, expiresIn: Math.max(1, exp - now) };
}

/** Checks `Basic` credentials; unreadable ones count as a failure of the client's address. */
export async function checkBasic(
  services: AuthServices,
  encoded: string,
  ip: string,
): Promise<Identity | null> {
  const credentials = decodeBasic(encoded);
  if (!credentials) {
    await services.authThrottle.failed({ ip, user: null });
    return null;
  }
  return checkLogin(services, credentials.name, credentials.password, ip);
}

/**
 * A user name and password, from a Basic header or a password grant: user `oidc` with a platform
 * token when OIDC issuers are configured, else a configured user's password.
 */
export async function checkLogin(
  services: AuthServices,
  name: string,
  password: string,
  ip: string,
): Promise<Identity | null> {
  if (name === OIDC_USER && services.oidc) return checkOidc(services, password, ip);
  const users = services.config.users;
  if (!users) {
    // OIDC only: no password can be right, but a guess still counts.
    await services.authThrottle.failed({ ip, user: name });
    return null;
  }
  const user = await checkPassword(users, name, password, services.authThrottle, ip);
  return user && { user };
}

function decodeBasic(encoded: string): { name: string; password: string } | null {
  let decoded: string;
  try {
    decoded = new TextDecoder().decode(Uint8Array.from(atob(encoded), (char) => char.charCodeAt(0)));
  } catch {
    return null;
  }
  const separator = decoded.indexOf(":");
  if (separator < 0) return null;
  return { name: decoded.slice(0, separator), password: decoded.slice(separator + 1) };
}

/**
 * Checks a user's password under the throttle (AuthThrottle.verify): refused (429) before any hashing
 * when this address or name is over its limit; an unknown name is checked against a decoy that costs
 * what a real check costs.
 */
export async function checkPassword(
  users: ReadonlyMap<string, MirrorUser>,
  name: string,
  password: string,
  throttle: AuthThrottle,
  ip: string,
): Promise<MirrorUser | null> {
  const user = users.get(name);
  const checked = user ?? decoyFor(users);
  const right = await throttle.verify({ ip, user: name }, checked.scope, password, () =>
    checked.verify(password),
  );
  return user && right ? user : null;
}

/**
 * Checks a platform token. Failures count against the client's address only, never against the user
 * name `oidc` that every CI job shares: one client's bad tokens must not lock the others out. Unlike a
 * password, a token is counted only once it failed: each job brings a new token, so counting right
 * ones too would spend a busy runner pool's budget on successes (and a check costs a signature
 * verification, not a PBKDF2 hash; key fetches are bounded per issuer). Each refusal leaves an audit
 * line naming the check that failed (never the token).
 */
async function checkOidc(services: AuthServices, token: string, ip: string): Promise<Identity | null> {
  const verifier = services.oidc;
  if (!verifier) return null;
  const attempt = { ip, user: null };
  services.authThrottle.check(attempt);
  const result = await verifier.verify(token);
  if (result.ok) return oidcIdentity(result.identity);
  services.log({
    event: "auth.oidc_refused",
    check: result.check,
    issuer: result.issuer,
    subject: result.subject,
    detail: result.detail,
    ip,
  });
  await services.authThrottle.failed(attempt);
  return null;
}

function oidcIdentity(identity: OidcIdentity): Identity {
  return {
    user: oidcUser(`oidc:${identity.issuer}:${identity.subject}`, identity.allow),
    oidc: { allow: identity.allow, matched: identity.matched, expiresAt: identity.expiresAt },
  };
}

/** A workload as a user: its name for the audit log and stats, its rules' patterns; no password. */
function oidcUser(name: string, allow: readonly string[]): MirrorUser {
  return { name, allow: allow.map(compileGlob), scope: OIDC_USER, verify: async () => false };
}

/** Whether a Bearer token says it is one of this mirror's (it is verified all the same). */
function isMirrorToken(token: string): boolean {
  try {
    return decode(token).payload.iss === ISSUER;
  } catch {
    return false;
  }
}

async function checkToken(config: Config, token: string, service: string): Promise<Identity | null> {
  let payload: Record<string, unknown>;
  try {
    payload = await verify(token, config.tokenKey, { alg: "HS256", iss: ISSUER, aud: service });
  } catch {
    return null;
  }
  const sub = typeof payload.sub === "string" ? payload.sub : "";
  const user = config.users?.get(sub);
  if (user) return { user };
  return oidcTokenIdentity(config, sub, payload);
}

/** A mirror token issued for an OIDC login: valid while its issuer is still configured. */
function oidcTokenIdentity(config: Config, sub: string, payload: Record<string, unknown>): Identity | null {
  const [kind, issuer] = sub.split(":", 2);
  if (kind !== OIDC_USER || !issuer || !config.oidc?.issuers.has(issuer)) return null;
  const { allow, claims, exp } = payload;
  if (
    !Array.isArray(allow) ||
    !allow.every((pattern) => typeof pattern === "string" && isValidGlob(pattern))
  ) {
    return null;
  }
  const matched =
    typeof claims === "object" && claims !== null
      ? Object.fromEntries(
          Object.entries(claims).filter((entry): entry is [string, string] => typeof entry[1] === "string"),
        )
      : {};
  return {
    user: oidcUser(sub, allow),
    oidc: { allow, matched, expiresAt: typeof exp === "number" ? exp : 0 },
  };
}

/** The client's address as Cloudflare reports it; "unknown" only outside Cloudflare (tests). */
export function clientIp(request: Request): string {
  return request.headers.get("CF-Connecting-IP") ?? "unknown";
}

/** The service name in challenges and tokens: this mirror's host. */
export function serviceOf(request: Request): string {
  return new URL(request.url).host;
}
