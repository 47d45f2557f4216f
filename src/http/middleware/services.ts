import type { Context, MiddlewareHandler } from "hono";
import { type RequestScope, servicesFor } from "../../platform/services";
import type { AppEnv } from "../context";

/**
 * Assembles the request's services from the Worker's bindings: the one place in the HTTP layer that
 * touches `c.env`. Everything after it reaches storage, upstreams and bindings through `c.var.services`.
 */
export function provideServices(): MiddlewareHandler<AppEnv> {
  return async function provideServices(c, next) {
    c.set("services", servicesFor(c.env, requestScope(c)));
    await next();
  };
}

/** The request's origin and its `waitUntil` (absent when the app is called without an execution context). */
function requestScope(c: Context<AppEnv>): RequestScope | undefined {
  let waitUntil: RequestScope["waitUntil"];
  try {
    const ctx = c.executionCtx;
    waitUntil = (promise) => ctx.waitUntil(promise);
  } catch {
    return undefined;
  }
  return { origin: new URL(c.req.url).origin, waitUntil };
}
