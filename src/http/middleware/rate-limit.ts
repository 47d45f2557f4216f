import type { MiddlewareHandler } from "hono";
import { RegistryError } from "../../oci/errors";
import { addressPrefix } from "../../util/address-prefix";
import { clientIp } from "../auth";
import type { AppEnv } from "../context";

/** The period of the rate limiter binding (wrangler.toml `[[ratelimits]]`). */
const RATE_LIMIT_PERIOD_SECONDS = "60";

/**
 * Pulls per client (its user name, or its IPv4 address or IPv6 /64 when anonymous) within the limiter's period; past it,
 * 429 with `Retry-After`. Runs after authentication, and only when the platform provides a limiter.
 */
export function rateLimit(): MiddlewareHandler<AppEnv> {
  return async function rateLimit(c, next) {
    const limiter = c.var.services.rateLimiter;
    if (limiter) {
      const { success } = await limiter.limit({
        key: c.var.identity.user?.name ?? addressPrefix(clientIp(c.req.raw)),
      });
      if (!success) {
        throw new RegistryError(429, "TOOMANYREQUESTS", "too many requests to this mirror", {
          "Retry-After": RATE_LIMIT_PERIOD_SECONDS,
        });
      }
    }
    await next();
  };
}
