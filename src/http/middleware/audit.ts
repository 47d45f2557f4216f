import type { Context, MiddlewareHandler } from "hono";
import { clientIp } from "../auth";
import type { AppEnv, AuditEntry } from "../context";
import { isRegistryPath } from "../paths";

/**
 * One structured line per pull request, whatever its outcome, and the request's share of the stats
 * and analytics. The handler that served the request says what it was in `c.var.audit`.
 */
export function auditLog(): MiddlewareHandler<AppEnv> {
  return async function auditLog(c, next) {
    const started = Date.now();
    try {
      await next();
    } finally {
      const entry = c.get("audit");
      if (entry) recordPull(c, entry, started);
      else if (isRegistryPath(c.req.path)) recordRefusal(c, started);
    }
  };
}

/** Refused before the repository was known (no or bad credentials, bad input): still audited. */
function recordRefusal(c: Context<AppEnv>, started: number): void {
  const services = c.get("services");
  if (!services) return;
  services.log({
    event: "pull",
    user: c.get("identity")?.user?.name ?? "anonymous",
    claims: c.get("identity")?.oidc?.matched,
    ip: clientIp(c.req.raw),
    method: c.req.method.slice(0, 16),
    path: c.req.path.slice(0, 300),
    status: c.res.status,
    ms: Date.now() - started,
  });
}

function recordPull(c: Context<AppEnv>, entry: AuditEntry, started: number): void {
  const services = c.get("services");
  if (!services) return;
  const bytes = Number(c.res.headers.get("Content-Length") ?? "") || 0;
  services.stats.request({
    cache: entry.cache,
    status: c.res.status,
    bytes: c.req.method === "GET" ? bytes : 0,
    pulled: entry.kind === "manifest" && entry.byTag ? `${entry.upstream}/${entry.repository}` : undefined,
  });
  services.analytics?.writeDataPoint({
    indexes: [entry.upstream],
    blobs: [
      entry.upstream,
      entry.repository,
      entry.reference,
      entry.cache ?? "",
      c.get("identity")?.user?.name ?? "",
    ],
    doubles: [c.res.status, bytes, Date.now() - started],
  });
  c.executionCtx.waitUntil(services.stats.flushIfDue().catch(() => {}));
  services.log({
    event: "pull",
    user: c.get("identity")?.user?.name ?? "anonymous",
    // An OIDC login: the claims its rules matched on (which repository, branch, namespace pulled).
    claims: c.get("identity")?.oidc?.matched,
    ip: clientIp(c.req.raw),
    method: c.req.method,
    ...entry,
    status: c.res.status,
    bytes: Number(c.res.headers.get("Content-Length") ?? "") || undefined,
    upstreamStatus: services.upstreamStatuses.join(",") || undefined,
    ms: Date.now() - started,
  });
}
