import type { MiddlewareHandler } from "hono";
import { authenticate } from "../auth";
import type { AppEnv } from "../context";

/**
 * Who the client is, as `c.var.identity`: anonymous when client authentication is off, else a user
 * or workload who proved it (Basic credentials, a token from `/token`, a platform token); anyone else
 * gets the 401 challenge.
 */
export function authenticateClient(): MiddlewareHandler<AppEnv> {
  return async function authenticateClient(c, next) {
    c.set("identity", await authenticate(c.req.raw, c.var.services));
    await next();
  };
}
