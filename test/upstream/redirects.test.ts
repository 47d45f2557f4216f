import { describe, expect, it } from "vitest";
import { RegistryError } from "../../src/oci/errors";
import {
  fetchFollowingRedirects,
  MAX_REDIRECTS,
  type RedirectingRequest,
} from "../../src/upstream/redirects";

const ORIGIN = "https://registry.test";
const AUTH = "Bearer upstream-token";

/** A fetcher that answers from a list of routes and records every request it gets. */
function fakeFetcher(routes: Record<string, () => Response>) {
  const requests: Request[] = [];
  const fetcher = async (request: Request) => {
    requests.push(request);
    const route = routes[request.url];
    if (!route) return new Response("not found", { status: 404 });
    return route();
  };
  return { fetcher, requests };
}

const redirect =
  (location: string, status = 307) =>
  () =>
    new Response("moved", { status, headers: { Location: location } });

function request(overrides: Partial<RedirectingRequest> = {}): RedirectingRequest {
  return {
    method: "GET",
    headers: new Headers({ Accept: "application/octet-stream", "User-Agent": "mirror-test" }),
    authorization: AUTH,
    authorizedOrigin: ORIGIN,
    ...overrides,
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("did not reject");
}

describe("fetchFollowingRedirects", () => {
  it("returns a response that is not a redirect as it is", async () => {
    const answer = new Response("blob", { status: 200, headers: { "Content-Length": "4" } });
    const { fetcher, requests } = fakeFetcher({ [`${ORIGIN}/v2/a/blobs/x`]: () => answer });
    const response = await fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/v2/a/blobs/x`), request());
    expect(response).toBe(answer);
    expect(requests).toHaveLength(1);
  });

  it.each([404, 401, 500, 304])("returns a %i as it is", async (status) => {
    const { fetcher } = fakeFetcher({ [`${ORIGIN}/x`]: () => new Response(null, { status }) });
    expect((await fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/x`), request())).status).toBe(status);
  });

  it("returns a redirect status without a Location as it is", async () => {
    const { fetcher, requests } = fakeFetcher({ [`${ORIGIN}/x`]: () => new Response(null, { status: 302 }) });
    expect((await fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/x`), request())).status).toBe(302);
    expect(requests).toHaveLength(1);
  });

  it("asks for redirect: manual, the method and the caller's headers on every hop", async () => {
    const { fetcher, requests } = fakeFetcher({
      [`${ORIGIN}/x`]: redirect("https://cdn.test/y"),
      "https://cdn.test/y": () => new Response(null, { status: 200 }),
    });
    await fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/x`), request({ method: "HEAD" }));
    expect(requests).toHaveLength(2);
    for (const sent of requests) {
      expect(sent.redirect).toBe("manual");
      expect(sent.method).toBe("HEAD");
      expect(sent.headers.get("Accept")).toBe("application/octet-stream");
      expect(sent.headers.get("User-Agent")).toBe("mirror-test");
    }
  });

  it.each([301, 302, 303, 307, 308])("follows a %i", async (status) => {
    const { fetcher } = fakeFetcher({
      [`${ORIGIN}/x`]: redirect("https://cdn.test/y", status),
      "https://cdn.test/y": () => new Response("data"),
    });
    const response = await fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/x`), request());
    expect(await response.text()).toBe("data");
  });

  it("sends Authorization to the authorized origin only, not to the CDN it redirects to", async () => {
    const { fetcher, requests } = fakeFetcher({
      [`${ORIGIN}/v2/a/blobs/x`]: redirect("https://cdn.test/signed?sig=1"),
      "https://cdn.test/signed?sig=1": () => new Response("data"),
    });
    await fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/v2/a/blobs/x`), request());
    expect(requests.map((r) => [r.url, r.headers.get("Authorization")])).toEqual([
      [`${ORIGIN}/v2/a/blobs/x`, AUTH],
      ["https://cdn.test/signed?sig=1", null],
    ]);
  });

  it("drops Authorization on a hop to another port of the same host", async () => {
    const { fetcher, requests } = fakeFetcher({
      [`${ORIGIN}/x`]: redirect("https://registry.test:8443/y"),
      "https://registry.test:8443/y": () => new Response("data"),
    });
    await fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/x`), request());
    expect(requests[1]?.headers.has("Authorization")).toBe(false);
  });

  it("drops Authorization on a hop from https to http on the same host", async () => {
    const { fetcher, requests } = fakeFetcher({
      [`${ORIGIN}/x`]: redirect("http://registry.test/y"),
      "http://registry.test/y": () => new Response("data"),
    });
    await fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/x`), request());
    expect(requests[1]?.headers.has("Authorization")).toBe(false);
  });

  it("drops Authorization on a hop to a subdomain of the upstream", async () => {
    const { fetcher, requests } = fakeFetcher({
      [`${ORIGIN}/x`]: redirect("https://cdn.registry.test/y"),
      "https://cdn.registry.test/y": () => new Response("data"),
    });
    await fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/x`), request());
    expect(requests[1]?.headers.has("Authorization")).toBe(false);
  });

  it("sends Authorization again when a hop comes back to the authorized origin", async () => {
    const { fetcher, requests } = fakeFetcher({
      [`${ORIGIN}/x`]: redirect("https://cdn.test/y"),
      "https://cdn.test/y": redirect(`${ORIGIN}/z`),
      [`${ORIGIN}/z`]: () => new Response("data"),
    });
    await fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/x`), request());
    expect(requests.map((r) => r.headers.get("Authorization"))).toEqual([AUTH, null, AUTH]);
  });

  it("sends no Authorization anywhere when there is none to send", async () => {
    const { fetcher, requests } = fakeFetcher({
      [`${ORIGIN}/x`]: redirect("https://cdn.test/y"),
      "https://cdn.test/y": () => new Response("data"),
    });
    await fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/x`), request({ authorization: null }));
    expect(requests.map((r) => r.headers.has("Authorization"))).toEqual([false, false]);
  });

  it("turns a 401 from a redirect target into a 502, whatever challenge it sends", async () => {
    const { fetcher, requests } = fakeFetcher({
      [`${ORIGIN}/v2/a/blobs/x`]: redirect("https://cdn.test/signed?sig=1"),
      "https://cdn.test/signed?sig=1": () =>
        new Response("log in", {
          status: 401,
          headers: { "WWW-Authenticate": 'Bearer realm="http://evil.test/token",service="x"' },
        }),
    });
    const error = await rejection(
      fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/v2/a/blobs/x`), request()),
    );
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({ status: 502, code: "UNAVAILABLE" });
    expect((error as RegistryError).message).toMatch(/redirect target cdn\.test refused/);
    expect(requests.map((r) => r.url)).toEqual([`${ORIGIN}/v2/a/blobs/x`, "https://cdn.test/signed?sig=1"]);
  });

  it("returns a 401 from the authorized origin after a round trip through another host", async () => {
    const { fetcher } = fakeFetcher({
      [`${ORIGIN}/x`]: redirect("https://cdn.test/y"),
      "https://cdn.test/y": redirect(`${ORIGIN}/z`),
      [`${ORIGIN}/z`]: () => new Response(null, { status: 401 }),
    });
    expect((await fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/x`), request())).status).toBe(401);
  });

  it("resolves a relative Location against the current URL", async () => {
    const { fetcher, requests } = fakeFetcher({
      [`${ORIGIN}/v2/a/blobs/x`]: redirect("../storage/x?token=1"),
      [`${ORIGIN}/v2/a/storage/x?token=1`]: redirect("/absolute/x"),
      [`${ORIGIN}/absolute/x`]: () => new Response("data"),
    });
    const response = await fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/v2/a/blobs/x`), request());
    expect(await response.text()).toBe("data");
    expect(requests.map((r) => r.url)).toEqual([
      `${ORIGIN}/v2/a/blobs/x`,
      `${ORIGIN}/v2/a/storage/x?token=1`,
      `${ORIGIN}/absolute/x`,
    ]);
    // Same origin throughout: the credentials go along.
    expect(requests.every((r) => r.headers.get("Authorization") === AUTH)).toBe(true);
  });

  it("resolves a scheme-relative Location to another host without credentials", async () => {
    const { fetcher, requests } = fakeFetcher({
      [`${ORIGIN}/x`]: redirect("//cdn.test/y"),
      "https://cdn.test/y": () => new Response("data"),
    });
    await fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/x`), request());
    expect(requests[1]?.url).toBe("https://cdn.test/y");
    expect(requests[1]?.headers.has("Authorization")).toBe(false);
  });

  it(`follows ${MAX_REDIRECTS} hops`, async () => {
    const routes: Record<string, () => Response> = {};
    for (let hop = 0; hop < MAX_REDIRECTS; hop++)
      routes[`${ORIGIN}/${hop}`] = redirect(`${ORIGIN}/${hop + 1}`);
    routes[`${ORIGIN}/${MAX_REDIRECTS}`] = () => new Response("data");
    const { fetcher } = fakeFetcher(routes);
    const response = await fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/0`), request());
    expect(await response.text()).toBe("data");
  });

  it(`refuses more than ${MAX_REDIRECTS} hops with a 502`, async () => {
    const routes: Record<string, () => Response> = {};
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++)
      routes[`${ORIGIN}/${hop}`] = redirect(`${ORIGIN}/${hop + 1}`);
    routes[`${ORIGIN}/${MAX_REDIRECTS + 1}`] = () => new Response("data");
    const { fetcher, requests } = fakeFetcher(routes);
    const error = await rejection(fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/0`), request()));
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({ status: 502, code: "UNAVAILABLE" });
    expect(requests).toHaveLength(MAX_REDIRECTS + 1);
  });

  it("refuses a redirect loop with a 502", async () => {
    const { fetcher } = fakeFetcher({ [`${ORIGIN}/x`]: redirect(`${ORIGIN}/x`) });
    const error = await rejection(fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/x`), request()));
    expect(error).toMatchObject({ status: 502 });
  });

  it.each(["file:///etc/passwd", "ftp://files.test/blob", "data:text/plain,hi", "javascript:alert(1)"])(
    "refuses a Location of %s with a 502 and never fetches it",
    async (location) => {
      const { fetcher, requests } = fakeFetcher({ [`${ORIGIN}/x`]: redirect(location) });
      const error = await rejection(fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/x`), request()));
      expect(error).toBeInstanceOf(RegistryError);
      expect(error).toMatchObject({ status: 502, code: "UNAVAILABLE" });
      expect(requests).toHaveLength(1);
    },
  );

  it("refuses a Location that is not a URL with a 502", async () => {
    const { fetcher } = fakeFetcher({ [`${ORIGIN}/x`]: redirect("http://[not-a-host/") });
    const error = await rejection(fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/x`), request()));
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({ status: 502 });
  });

  it("does not let the caller's Headers object change between hops", async () => {
    const headers = new Headers({ Accept: "a/b" });
    const { fetcher } = fakeFetcher({
      [`${ORIGIN}/x`]: redirect("https://cdn.test/y"),
      "https://cdn.test/y": () => new Response("data"),
    });
    await fetchFollowingRedirects(fetcher, new URL(`${ORIGIN}/x`), request({ headers }));
    expect([...headers]).toEqual([["accept", "a/b"]]);
  });
});
