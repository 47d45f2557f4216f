import { Hono } from "hono";
import { ConfigError } from "../config";
import { RegistryError } from "../oci/errors";
import { describe } from "../platform/services";
import { forClient } from "./auth";
import type { AppEnv } from "./context";
import { auditLog } from "./middleware/audit";
import { noSniff } from "./middleware/no-sniff";
import { pullOnly } from "./middleware/pull-only";
import { provideServices } from "./middleware/services";
import { errorResponse } from "./responses";
import { adminApi } from "./routes/admin";
import { landingApi } from "./routes/landing";
import { registryApi } from "./routes/registry";
import { tokenApi } from "./routes/token";

/**
 * The registry's HTTP surface: the OCI distribution pull API (`/v2/…`, `/<prefix>/v2/…`), the token
 * endpoint for client authentication, the operators' endpoints (`/_/…`) and the landing page. Every
 * failure becomes an OCI JSON error here and nowhere else.
 */
export function createApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // In this order: the audit sees every outcome; writes are refused before any service is assembled.
  app.use("*", noSniff());
  app.use("*", auditLog());
  app.use(
    "*",
    pullOnly((path) => path === "/token" || path.startsWith("/_/")),
  );
  app.use("*", provideServices());

  app.route("/", tokenApi);
  app.route("/_", adminApi);
  app.route("/", landingApi);
  app.route("/", registryApi);

  app.notFound(() => errorResponse(new RegistryError(404, "UNSUPPORTED", "not a registry API path")));
  app.onError((error, c) => {
    if (error instanceof RegistryError)
      return errorResponse(forClient(error, c.req.raw, c.get("services")?.config));
    if (error instanceof ConfigError) {
      console.error(JSON.stringify({ event: "config.invalid", error: error.message }));
      return errorResponse(new RegistryError(500, "UNKNOWN", error.message));
    }
    console.error(
      JSON.stringify({ event: "request.failed", path: c.req.path.slice(0, 300), error: describe(error) }),
    );
    return errorResponse(new RegistryError(500, "UNKNOWN", "internal error"));
  });
  return app;
}
