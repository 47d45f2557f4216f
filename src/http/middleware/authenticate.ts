import type { MiddlewareHandler } from "hono";
import { authenticate } from "../auth";
import type { AppEnv } from "../context";

/**
 * Who the client is, as `c.var.identity`: anonymous when client authentication is off, else a user
 * who proved it (Basic credentials or a token from `/token`); anyone else gets the 401 challenge.
 */
export function authenticateClient(): MiddlewareHandler<AppEnv> {
  return async function authenticateClient(c, next) {
    const { config, authThrottle } = c.var.services;
    c.set("identity", await authenticate(c.req.raw, config, authThrottle));
    await next();
  };
}
