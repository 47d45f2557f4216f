import { sign, verify } from "hono/jwt";
import type { AuthThrottle } from "../auth/throttle";
import { decoyFor, type MirrorUser } from "../auth/users";
import type { Config } from "../config";
import { RegistryError } from "../oci/errors";

/** Who is pulling: a configured user, or nobody in particular when client authentication is off. */
export interface Identity {
  readonly user: MirrorUser | null;
}

export const ANONYMOUS: Identity = { user: null };

/** Lifetime of the mirror's own tokens; clients ask for a new one when it runs out. */
export const TOKEN_LIFETIME_SECONDS = 300;
const ISSUER = "edge-registry-mirror";

/**
 * Authenticates a registry request: `Basic` credentials, or a `Bearer` token this mirror issued at
 * `/token`. Without valid ones the answer is 401 with the challenge `docker login`, skopeo, podman and
 * containerd follow (Bearer, realm = this mirror's token endpoint). Password checks are throttled
 * (see AuthThrottle); a forged token costs one HMAC, not a guess, and is not counted.
 */
export async function authenticate(
  request: Request,
  config: Config,
  throttle: AuthThrottle,
): Promise<Identity> {
  const users = config.users;
  if (!users) return ANONYMOUS;
  const header = request.headers.get("Authorization") ?? "";
  const [scheme = "", value = ""] = header.split(" ", 2);
  if (scheme.toLowerCase() === "basic") {
    const user = await checkBasic(users, value, throttle, clientIp(request));
    if (user) return { user };
  } else if (scheme.toLowerCase() === "bearer") {
    const user = await checkToken(users, value, config.tokenKey, serviceOf(request));
    if (user) return { user };
  }
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
  if (config?.users) {
    return new RegistryError(401, "UNAUTHORIZED", error.message, {
      ...error.headers,
      ...unauthorized(request).headers,
    });
  }
  return new RegistryError(403, "DENIED", error.message, error.headers);
}

/** Issues a token for a user who proved their password (Basic header or OAuth2 password grant). */
export async function issueToken(user: MirrorUser, config: Config, service: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return sign(
    { iss: ISSUER, sub: user.name, aud: service, iat: now, nbf: now - 5, exp: now + TOKEN_LIFETIME_SECONDS },
    config.tokenKey,
    "HS256",
  );
}

/** Checks `Basic` credentials; unreadable ones count as a failure of the client's IP. */
export async function checkBasic(
  users: ReadonlyMap<string, MirrorUser>,
  encoded: string,
  throttle: AuthThrottle,
  ip: string,
): Promise<MirrorUser | null> {
  const credentials = decodeBasic(encoded);
  if (!credentials) {
    await throttle.failed({ ip, user: null });
    return null;
  }
  return checkPassword(users, credentials.name, credentials.password, throttle, ip);
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

async function checkToken(
  users: ReadonlyMap<string, MirrorUser>,
  token: string,
  key: string,
  service: string,
): Promise<MirrorUser | null> {
  try {
    const payload = await verify(token, key, { alg: "HS256", iss: ISSUER, aud: service });
    return typeof payload.sub === "string" ? (users.get(payload.sub) ?? null) : null;
  } catch {
    return null;
  }
}

/** The client's address as Cloudflare reports it; "unknown" only outside Cloudflare (tests). */
export function clientIp(request: Request): string {
  return request.headers.get("CF-Connecting-IP") ?? "unknown";
}

/** The service name in challenges and tokens: this mirror's host. */
export function serviceOf(request: Request): string {
  return new URL(request.url).host;
}
