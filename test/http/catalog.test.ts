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
      // Each link's `last` is an opaque cursor of one length: no name, hidden or not, and no length.
      for (const last of links) {
        expect(last).toMatch(/^~/);
        for (const name of [...HIDDEN, ...VISIBLE]) expect(last).not.toContain(name.slice("quay/".length));
      }
      expect(new Set(links.map((last) => last.length)).size).toBe(1);
    },
  );

  it("gives a restricted client a Link whether or not hidden rows follow, of the same length", async () => {
    // After quay/org/zzz only a hidden row follows; after quay/zzz/secret nothing at all.
    const answers = [];
    for (const last of ["quay/org/zzz", "quay/zzz/secret", "quay/zzz/zzzzzzzzzzzzzzzzzzzzzzzzzz"]) {
      const response = await request(`/v2/_catalog?n=5&last=${encodeURIComponent(last)}`, "robot");
      expect(((await response.json()) as { repositories: string[] }).repositories).toEqual([]);
      answers.push(response.headers.get("Link") ?? "");
    }
    for (const link of answers) expect(link).toMatch(/^<\/v2\/_catalog\?n=5&last=%7E[\w-]+>; rel="next"$/);
    expect(new Set(answers.map((link) => link.length)).size).toBe(1);
    // And after hidden rows of very different lengths, from the start: the same length again.
    const short = (await request("/v2/_catalog?n=1&last=quay/aaa", "robot")).headers.get("Link") ?? "";
    const long = (await request("/v2/_catalog?n=1&last=quay/org/app", "robot")).headers.get("Link") ?? "";
    expect(short.length).toBe(answers[0]?.length);
    expect(long.length).toBe(answers[0]?.length);
  });

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
    const last = await nextLast(first, "key", true);
    expect(last).toMatch(/^~/);
    expect(last).not.toContain("hidden");
    expect(await positionOf(last, "key")).toEqual({ after: "b/hidden3", end: false });
    const seen = [...first.repositories];
    let position = await positionOf(last, "key");
    for (let page = 0; page < 10 && !position.end && position.after !== null; page++) {
      const next = await visiblePage(rows, 5, position.after, visible, limits);
      seen.push(...next.repositories);
      position = await positionOf(await nextLast(next, "key", false), "key");
    }
    expect(seen).toEqual(["a/1", "c/1", "e/1"]);
    expect(position).toEqual({ after: null, end: true });
  });

  it("seals every position, a 300-character name or the end, into a cursor of one length", async () => {
    const cursors = await Promise.all(
      ["a", "b".repeat(300), null].map((resumeAfter) =>
        nextLast({ repositories: [], resumeAfter }, "key", false),
      ),
    );
    expect(new Set(cursors.map((cursor) => cursor?.length)).size).toBe(1);
    expect(await positionOf(cursors[1] ?? "", "key")).toEqual({ after: "b".repeat(300), end: false });
  });

  it("uses the page's last name, as registries do, for a client who sees everything", async () => {
    const page = await visiblePage(rows, 1, null, visible);
    expect(page).toEqual({ repositories: ["a/1"], resumeAfter: "a/1" });
    expect(await nextLast(page, "key", true)).toBe("a/1");
    expect(await nextLast(await visiblePage(rows, 10, null, visible), "key", true)).toBeNull();
  });

  it("refuses a cursor made with another key", async () => {
    const last = await nextLast({ repositories: [], resumeAfter: "b/hidden" }, "key", false);
    await expect(positionOf(last, "another key")).rejects.toMatchObject({ status: 400 });
  });
});
