import { Hono } from "hono";
import type { AppEnv } from "../context";
import { landingPolicy } from "../landing/content-security-policy";
import { type ColoCacheState, renderLandingPage } from "../landing/page";

/** `GET /`: what this mirror is, and how to point clients at it. */
export const landingApi = new Hono<AppEnv>();

landingApi.get("/", async (c) => {
  const { config, colo } = c.var.services;
  const url = new URL(c.req.url);
  // A probe (a put and a read, once per isolate) says whether this host's data centre cache works.
  const coloCache: ColoCacheState =
    config.coloCache === null ? "off" : (await colo?.cache.active()) ? "active" : "inactive";
  c.header("Content-Security-Policy", await landingPolicy());
  return c.html(
    renderLandingPage({
      origin: url.origin,
      host: url.host,
      upstreams: [...config.upstreams.values()],
      defaultUpstream: config.defaultUpstream?.prefix ?? null,
      authRequired: config.clientAuth,
      oidcIssuers: config.oidc
        ? [...config.oidc.issuers.values()].map((entry) => ({
            issuer: entry.issuer,
            audiences: entry.audiences,
          }))
        : undefined,
      coloCache,
      plan: config.plan,
      limits: { ...config.clientBudget, storedBytes: config.retentionMaxBytes },
      signaturePolicy: config.signaturePolicy?.entries.map((entry) => ({
        repositories: entry.repositories,
        mode: entry.mode,
        keys: [
          ...entry.keys.map((key) => key.kind),
          ...entry.identities.map((identity) => `keyless: ${identity.subject} (${identity.issuer})`),
        ],
      })),
    }),
  );
});
