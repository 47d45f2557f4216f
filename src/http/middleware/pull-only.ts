import type { MiddlewareHandler } from "hono";
import { unsupported } from "../../oci/errors";
import type { AppEnv } from "../context";

const READ_METHODS = new Set(["GET", "HEAD"]);

/**
 * The registry API is pull-only: other methods are refused before anything else happens (no upstream
 * call, no storage). `writable` names the paths that take them (the token endpoint, admin).
 */
export function pullOnly(writable: (path: string) => boolean): MiddlewareHandler<AppEnv> {
  return async function pullOnly(c, next) {
    if (!READ_METHODS.has(c.req.method) && !writable(c.req.path)) {
      throw unsupported(`${c.req.method.slice(0, 16)} is not supported: this registry mirror is pull-only`, {
        Allow: "GET, HEAD",
      });
    }
    await next();
  };
}
