// `/v2/_catalog` pages over what the client may see: its Link never names a hidden repository, and
// following the links reaches every repository the client may see.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { nextLast, positionOf, visiblePage } from "../../src/http/catalog-pages";
import worker from "../../src/index";
import { pushImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams } from "../support/mirror";

const USERS = {
  ci: "ci-password-1",
  robot: { password: "robot-password-2", allow: ["quay/org/*"] },
};
/** The robot may see only quay/org/*; the others sort before, between and after its repositories. */
const HIDDEN = ["quay/aaa/secret", "quay/org/app/deeper", "quay/orz/hidden", "quay/zzz/secret"];
const VISIBLE = ["quay/org/app", "quay/org/bbb", "quay/org/zzz"];

async function request(path: string, user: keyof typeof USERS) {
  const password = user === "ci" ? USERS.ci : USERS.robot.password;
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request(`http://mirror.test${path}`, {
      headers: { Authorization: `Basic ${btoa(`${user}:${password}`)}`, Accept: ACCEPT_ALL },
    }) as Request<unknown, IncomingRequestCfProperties>,
    { ...env, MIRROR_USERS: JSON.stringify(USERS), AUTH_FAILURES: undefined },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

beforeAll(async () => {
  vi.spyOn(console, "log").mockImplementation(() => {});
  const upstreams = fakeUpstreams();
  for (const repository of [...HIDDEN, ...VISIBLE]) {
    const name = repository.slice("quay/".length);
    await pushImage(upstreams.quay, name, "v1");
    const pulled = await request(`/v2/quay/${name}/manifests/v1`, "ci");
    await pulled.arrayBuffer();
    expect(pulled.status).toBe(200);
  }
  vi.restoreAllMocks();
});
beforeEach(() => {
  vi.spyOn(console, "log").mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

/** Follows Link headers from `/v2/_catalog?n=<n>`; every page and link the client saw. */
async function walk(user: keyof typeof USERS, n: number) {
  const repositories: string[] = [];
  const links: string[] = [];
  let path: string | null = `/v2/_catalog?n=${n}`;
  for (let page = 0; path && page < 20; page++) {
    const response = await request(path, user);
    expect(response.status).toBe(200);
    repositories.push(...((await response.json()) as { repositories: string[] }).repositories);
    const link = response.headers.get("Link");
    path = link ? (/^<([^>]+)>; rel="next"$/.exec(link)?.[1] ?? null) : null;
    if (path) links.push(new URL(path, "http://mirror.test").searchParams.get("last") ?? "");
  }
  return { repositories, links };
}

describe("catalog pagination", () => {
  it.each([1, 2, 3])(
    "never names a hidden repository in its Link (n=%i), and reaches every visible one",
    async (n) => {
      const { repositories, links } = await walk("robot", n);
      expect(repositories).toEqual(VISIBLE);
      // Each link's `last` is a repository the robot may see (here: the page's last one).
      for (const last of links) expect(VISIBLE).toContain(last);
    },
  );

  it("still lists everything, page by page, for a user who may see everything", async () => {
    const { repositories } = await walk("ci", 2);
    expect(repositories).toEqual(expect.arrayContaining([...HIDDEN, ...VISIBLE]));
    expect([...repositories].sort()).toEqual(repositories);
  });

  it("marks the per-user listing private", async () => {
    const response = await request("/v2/_catalog", "robot");
    expect(response.headers.get("Cache-Control")).toBe("private");
  });
});

describe("visiblePage and its cursor", () => {
  const names = ["a/1", "b/hidden", "b/hidden2", "b/hidden3", "b/hidden4", "c/1", "d/hidden", "e/1"];
  const rows = async (n: number, last: string | null) => {
    const after = names.filter((name) => last === null || name > last);
    return { repositories: after.slice(0, n), more: after.length > n };
  };
  const visible = (name: string) => !name.includes("hidden");

  it("stops at its read budget and then hands out an opaque cursor, not the hidden name it stopped at", async () => {
    const limits = { batch: 2, reads: 2 };
    const first = await visiblePage(rows, 5, null, visible, limits);
    expect(first).toEqual({ repositories: ["a/1"], resumeAfter: "b/hidden3" });
    const last = await nextLast(first, "key");
    expect(last).toMatch(/^~/);
    expect(last).not.toContain("hidden");
    expect(await positionOf(last, "key")).toBe("b/hidden3");
    const seen = [...first.repositories];
    let position = await positionOf(last, "key");
    for (let page = 0; page < 10 && position !== null; page++) {
      const next = await visiblePage(rows, 5, position, visible, limits);
      seen.push(...next.repositories);
      position = await positionOf(await nextLast(next, "key"), "key");
    }
    expect(seen).toEqual(["a/1", "c/1", "e/1"]);
  });

  it("uses the page's last name, as registries do, when it stops at a visible one", async () => {
    const page = await visiblePage(rows, 1, null, visible);
    expect(page).toEqual({ repositories: ["a/1"], resumeAfter: "a/1" });
    expect(await nextLast(page, "key")).toBe("a/1");
    expect(await nextLast(await visiblePage(rows, 10, null, visible), "key")).toBeNull();
  });

  it("refuses a cursor made with another key", async () => {
    const last = await nextLast({ repositories: [], resumeAfter: "b/hidden" }, "key");
    await expect(positionOf(last, "another key")).rejects.toMatchObject({ status: 400 });
  });
});
