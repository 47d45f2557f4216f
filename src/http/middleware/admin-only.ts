import type { MiddlewareHandler } from "hono";
import { RegistryError } from "../../oci/errors";
import { timingSafeEqual } from "../../util/bytes";
import { clientIp } from "../auth";
import type { AppEnv } from "../context";

/**
 * Operators only: `Authorization: Bearer <ADMIN_TOKEN>`; without that secret the endpoints are off.
 * Guesses are throttled per client address like passwords (counted before the compare, 429 past the
 * limit); not per name, which would let anyone lock the operator out.
 */
export function adminOnly(): MiddlewareHandler<AppEnv> {
  return async function adminOnly(c, next) {
    const { config, authThrottle } = c.var.services;
    const token = config.adminToken;
    if (!token)
      throw new RegistryError(404, "UNSUPPORTED", "admin endpoints are off: set the ADMIN_TOKEN secret");
    const given = (c.req.header("Authorization") ?? "").replace(/^Bearer\s+/i, "");
    const attempt = { ip: clientIp(c.req.raw), user: null };
    const right = await authThrottle.verify(attempt, `admin\u0000${token}`, given, () =>
      sameSecret(given, token),
    );
    if (!right) {
      throw new RegistryError(401, "UNAUTHORIZED", "admin token required", {
        "WWW-Authenticate": 'Bearer realm="admin"',
      });
    }
    await next();
  };
}

/** Compares secrets by their SHA-256, so the time taken says nothing about where they differ. */
async function sameSecret(given: string, expected: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(given)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  return given.length > 0 && timingSafeEqual(new Uint8Array(a), new Uint8Array(b));
}
