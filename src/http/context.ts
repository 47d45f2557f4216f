import type { Env } from "../platform/env";
import type { Services } from "../platform/services";
import type { Identity } from "./auth";

/** What the audit log says about a pull request, filled in by the handler that served it. */
export interface AuditEntry {
  kind: "manifest" | "blob" | "tags" | "referrers" | "catalog";
  upstream: string;
  repository: string;
  reference: string;
  /** A manifest asked for by tag: a pull of an image (by digest, its parts are asked for). */
  byTag?: boolean;
  digest?: string;
  cache?: string;
  /** A budget of the client's refused the request (`budget.requests`, `budget.bytes`). */
  refusedBy?: string;
  /** Under a signature policy: whether the manifest's signature verified (`unverified` is served by `warn`). */
  signature?: "verified" | "unverified";
}

/** Hono's bindings and per-request variables for this app. */
export type AppEnv = {
  Bindings: Env;
  Variables: { services: Services; identity: Identity; audit?: AuditEntry };
};
