import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../context";

/**
 * `X-Content-Type-Options: nosniff` on every response, errors included: a browser takes the mirror's
 * `Content-Type` as it is, so no body an upstream chose (a manifest, a blob, an error text) is ever
 * guessed into HTML or script on the mirror's origin.
 */
export function noSniff(): MiddlewareHandler<AppEnv> {
  return async function noSniff(c, next) {
    await next();
    try {
      c.res.headers.set("X-Content-Type-Options", "nosniff");
    } catch {
      // Headers of a response passed through as it came are immutable: copy it.
      c.res = new Response(c.res.body, c.res);
      c.res.headers.set("X-Content-Type-Options", "nosniff");
    }
  };
}
