import { Hono } from "hono";
import { audienceFor } from "../../access/audience";
import { mayPull, seesEveryRepository } from "../../access/repository";
import { RegistryError } from "../../oci/errors";
import { nextLast, positionOf, visiblePage } from "../catalog-pages";
import type { AppEnv } from "../context";
import { catalogHeaders } from "../responses";

/**
 * `/v2/_catalog`: the repositories the mirror holds, as `<prefix>/<name>`, that this client may pull.
 * Pages over the names the client may see, so its `Link` never names a hidden repository, and (for
 * a client that may not see everything) neither its presence nor its length depends on hidden rows.
 */
export const catalogApi = new Hono<AppEnv>();

catalogApi.get("/v2/_catalog", async (c) => {
  const n = c.req.query("n") ?? "100";
  if (!/^\d{1,4}$/.test(n) || Number(n) < 1 || Number(n) > 1000) {
    throw new RegistryError(400, "PAGINATION_NUMBER_INVALID", "n must be a whole number from 1 to 1000");
  }
  const { config, stats, statsObject } = c.var.services;
  if (!statsObject) throw new RegistryError(404, "UNSUPPORTED", "the catalog is off: no STATS binding");
  const position = await positionOf(c.req.query("last") ?? null, config.tokenKey);
  const user = c.var.identity.user;
  // What a user may see depends on who they are: no shared cache may keep it.
  const audience = audienceFor({
    authenticatedClient: user !== null,
    authenticatedUpstream: false,
    restricted: false,
  });
  // Past the end cursor a restricted client got: the last, empty page.
  if (position.end) return c.json({ repositories: [] }, 200, catalogHeaders(audience));
  await stats.flush(); // what this isolate counted is part of the answer
  const page = await visiblePage(
    async (count, last) => {
      const rows = await statsObject.catalog(count, last);
      return { repositories: [...rows.repositories], more: rows.more };
    },
    Number(n),
    position.after,
    (repository) => {
      const slash = repository.indexOf("/");
      const upstream = config.upstreams.get(repository.slice(0, slash));
      return upstream !== undefined && mayPull(user, upstream, repository.slice(slash + 1));
    },
  );
  const headers = catalogHeaders(audience);
  const last = await nextLast(
    page,
    config.tokenKey,
    seesEveryRepository(user, [...config.upstreams.values()]),
  );
  if (last !== null) headers.Link = `</v2/_catalog?${new URLSearchParams({ n, last })}>; rel="next"`;
  return c.json({ repositories: page.repositories }, 200, headers);
});
