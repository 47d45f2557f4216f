import { Hono } from "hono";
import { audienceFor } from "../../access/audience";
import { mayPull } from "../../access/repository";
import { RegistryError } from "../../oci/errors";
import { nextLast, positionOf, visiblePage } from "../catalog-pages";
import type { AppEnv } from "../context";
import { catalogHeaders } from "../responses";

/**
 * `/v2/_catalog`: the repositories the mirror holds, as `<prefix>/<name>`, that this client may pull.
 * Pages over the names the client may see, so its `Link` never names a hidden repository.
 */
export const catalogApi = new Hono<AppEnv>();

catalogApi.get("/v2/_catalog", async (c) => {
  const n = c.req.query("n") ?? "100";
  if (!/^\d{1,4}$/.test(n) || Number(n) < 1 || Number(n) > 1000) {
    throw new RegistryError(400, "PAGINATION_NUMBER_INVALID", "n must be a whole number from 1 to 1000");
  }
  const { config, stats, statsObject } = c.var.services;
  if (!statsObject) throw new RegistryError(404, "UNSUPPORTED", "the catalog is off: no STATS binding");
  const after = await positionOf(c.req.query("last") ?? null, config.tokenKey);
  await stats.flush(); // what this isolate counted is part of the answer
  const page = await visiblePage(
    async (count, last) => {
      const rows = await statsObject.catalog(count, last);
      return { repositories: [...rows.repositories], more: rows.more };
    },
    Number(n),
    after,
    (repository) => {
      const slash = repository.indexOf("/");
      const upstream = config.upstreams.get(repository.slice(0, slash));
      return upstream !== undefined && mayPull(c.var.identity.user, upstream, repository.slice(slash + 1));
    },
  );
  // What a user may see depends on who they are: no shared cache may keep it.
  const audience = audienceFor({
    authenticatedClient: c.var.identity.user !== null,
    authenticatedUpstream: false,
    restricted: false,
  });
  const headers = catalogHeaders(audience);
  const last = await nextLast(page, config.tokenKey);
  if (last !== null) headers.Link = `</v2/_catalog?${new URLSearchParams({ n, last })}>; rel="next"`;
  return c.json({ repositories: page.repositories }, 200, headers);
});
