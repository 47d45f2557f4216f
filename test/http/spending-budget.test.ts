// A spending budget per client (issue 24, finding 2): counted upstream requests (manifest GETs, the
// referrers fallback's) per user or per anonymous IPv4 address / IPv6 /64, and bytes of fills the client
// hung up on, per hour; past it 429 TOOMANYREQUESTS with Retry-After and no upstream request. Budgets
// hold across isolates through the stats object.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { spendingMemoryFor } from "../../src/platform/isolate-memory";
import { pseudoRandomBytes, pushImage, pushReferrer, sha256 } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams } from "../support/mirror";

let upstreams: ReturnType<typeof fakeUpstreams>;
let test = 0;
let lines: Array<Record<string, unknown>> = [];
beforeEach(() => {
  upstreams = fakeUpstreams();
  test++;
  lines = [];
  vi.spyOn(console, "log").mockImplementation((line: string) => {
    lines.push(JSON.parse(line) as Record<string, unknown>);
  });
});
afterEach(() => vi.restoreAllMocks());

/** One environment per budget, as one deployment has (its configuration is parsed once). */
const envs = new Map<string, object>();
function budgetEnv(requests: number, bytes = 0) {
  const key = `${requests}/${bytes}`;
  let made = envs.get(key);
  if (!made) {
    made = { ...env, CLIENT_BUDGET_REQUESTS: String(requests), CLIENT_BUDGET_BYTES: String(bytes) };
    envs.set(key, made);
  }
  return made as typeof env;
}

async function request(path: string, ip: string, budget: typeof env, init: RequestInit = {}) {
  const ctx = createExecutionContext();
  const headers = new Headers(init.headers);
  headers.set("CF-Connecting-IP", ip);
  if (!headers.has("Accept")) headers.set("Accept", ACCEPT_ALL);
  const response = await worker.fetch(
    new Request(`http://mirror.test${path}`, { ...init, headers }) as Request<
      unknown,
      IncomingRequestCfProperties
    >,
    budget,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

const manifestGets = () =>
  upstreams.quay.requests.filter((sent) => sent.kind === "manifest" && sent.method === "GET").length;

async function expectRefused(response: Response): Promise<void> {
  expect(response.status).toBe(429);
  const retryAfter = Number(response.headers.get("Retry-After"));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(3600);
  expect(await response.json()).toMatchObject({ errors: [{ code: "TOOMANYREQUESTS" }] });
}

describe("counted upstream requests per client", () => {
  it("refuses the request past the budget with 429 and asks the upstream nothing; cache hits still pass", async () => {
    const budget = budgetEnv(3);
    const ip = `192.0.2.${test}`;
    const name = `budget/app${test}`;
    for (const tag of ["1", "2", "3", "4"]) await pushImage(upstreams.quay, name, tag);
    for (const tag of ["1", "2", "3"]) {
      const response = await request(`/v2/quay/${name}/manifests/${tag}`, ip, budget);
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
    const spent = manifestGets();
    expect(spent).toBe(3);
    upstreams.quay.reset();
    await expectRefused(await request(`/v2/quay/${name}/manifests/4`, ip, budget));
    expect(upstreams.quay.requests).toHaveLength(0);
    // What the mirror holds costs nothing: still served.
    expect((await request(`/v2/quay/${name}/manifests/1`, ip, budget)).status).toBe(200);
    // Another client has its own budget.
    expect((await request(`/v2/quay/${name}/manifests/4`, `198.51.100.${test}`, budget)).status).toBe(200);
    // The audit line says a budget refused.
    expect(lines).toContainEqual(
      expect.objectContaining({ event: "pull", status: 429, refusedBy: "budget.requests" }),
    );
  });

  it("holds under concurrency: of 10 parallel misses at most the budget reach the upstream", async () => {
    const budget = budgetEnv(3);
    const ip = `192.0.2.${100 + test}`;
    const name = `budget/app${test}`;
    const tags = Array.from({ length: 10 }, (_, index) => `t${index}`);
    for (const tag of tags) await pushImage(upstreams.quay, name, tag);
    upstreams.quay.reset();
    const responses = await Promise.all(
      tags.map((tag) => request(`/v2/quay/${name}/manifests/${tag}`, ip, budget)),
    );
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(3);
    expect(statuses.filter((status) => status === 429)).toHaveLength(7);
    expect(manifestGets()).toBe(3);
  });

  it("counts an anonymous IPv6 client per /64", async () => {
    const budget = budgetEnv(2);
    const name = `budget/app${test}`;
    for (const tag of ["1", "2", "3"]) await pushImage(upstreams.quay, name, tag);
    const network = `2001:db8:${test.toString(16)}:5`;
    expect((await request(`/v2/quay/${name}/manifests/1`, `${network}::1`, budget)).status).toBe(200);
    expect((await request(`/v2/quay/${name}/manifests/2`, `${network}::2`, budget)).status).toBe(200);
    await expectRefused(await request(`/v2/quay/${name}/manifests/3`, `${network}:abcd::3`, budget));
  });

  it("charges the referrers fallback's manifest GETs, and refuses it past the budget", async () => {
    const budget = budgetEnv(1);
    const ip = `192.0.2.${150 + test}`;
    const name = `budget/app${test}`;
    const first = await pushImage(upstreams.quay, name, "1", 1);
    const second = await pushImage(upstreams.quay, name, "2", 2);
    for (const image of [first, second]) {
      const subject = { digest: image.indexDigest, size: 1 };
      await pushReferrer(upstreams.quay, name, subject, "application/vnd.example.sbom", true);
    }
    const listed = await request(`/v2/quay/${name}/referrers/${first.indexDigest}`, ip, budget);
    expect(listed.status).toBe(200);
    expect(manifestGets()).toBeGreaterThanOrEqual(1);
    upstreams.quay.reset();
    await expectRefused(await request(`/v2/quay/${name}/referrers/${second.indexDigest}`, ip, budget));
    expect(manifestGets()).toBe(0);
  });

  it("holds across isolates: a client the stats object counts over budget is refused here", async () => {
    const ip = `203.0.113.${test}`;
    const budget = budgetEnv(50);
    const name = `budget/app${test}`;
    await pushImage(upstreams.quay, name, "1");
    // Other isolates reported this client's spending, past the stats object's budget (the tests' own).
    const namespace = env.STATS;
    if (!namespace) throw new Error("the tests bind STATS");
    const stats = namespace.get(namespace.idFromName("global"));
    const over = await stats.record({
      counters: {},
      repositories: {},
      spenders: { [`ip:${ip}`]: 1_000_000 },
    });
    expect(over.requests).toContain(`ip:${ip}`);
    // Any flush of this isolate brings the news.
    await (await request(`/v2/quay/${name}/manifests/1`, "192.0.2.250", budget)).arrayBuffer();
    upstreams.quay.reset();
    await expectRefused(await request(`/v2/quay/${name}/manifests/latest`, ip, budget));
    expect(upstreams.quay.requests).toHaveLength(0);
  });
});

describe("bytes of fills a client hung up on", () => {
  it("charges a fill the client left, and past the budget refuses new fills without asking the upstream", async () => {
    const limit = 1024 * 1024;
    const budget = budgetEnv(1000, limit);
    const ip = `192.0.2.${200 + test}`;
    const name = `budget/blobs${test}`;
    const blobs = [1, 2].map((seed) => pseudoRandomBytes(4 * 1024 * 1024, 9000 + test * 10 + seed));
    const digests = await Promise.all(blobs.map((blob) => sha256(blob)));
    for (const [index, blob] of blobs.entries()) upstreams.quay.addBlob(blob, digests[index] ?? "", name);
    const first = await request(`/v2/quay/${name}/blobs/${digests[0]}`, ip, budget);
    expect(first.status).toBe(200);
    expect(first.headers.get("X-Mirror-Cache")).toBe("MISS");
    const reader = first.body?.getReader();
    await reader?.read();
    await reader?.cancel();
    // The hang-up is seen when the pipe to the client fails: wait for this isolate to have charged it.
    const memory = spendingMemoryFor(env.MANIFESTS);
    for (let poll = 0; poll < 200 && memory.blockedFor(`ip:${ip}`, "bytes", limit) === 0; poll++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    upstreams.quay.reset();
    await expectRefused(await request(`/v2/quay/${name}/blobs/${digests[1]}`, ip, budget));
    expect(upstreams.quay.requests).toHaveLength(0);
    expect(lines).toContainEqual(
      expect.objectContaining({ event: "pull", status: 429, refusedBy: "budget.bytes" }),
    );
    // Another client may still fill it.
    const other = await request(`/v2/quay/${name}/blobs/${digests[1]}`, `198.51.100.${200 + test}`, budget);
    expect(other.status).toBe(200);
    await other.arrayBuffer();
  });
});

describe("a fill that fails is not charged to its client", () => {
  it("charges nothing when the upstream's bytes do not match the digest (the fill failed, nothing goes on)", async () => {
    const limit = 1024 * 1024;
    const budget = budgetEnv(1000, limit);
    const ip = `192.0.2.${220 + test}`;
    const name = `budget/corrupt${test}`;
    const blob = pseudoRandomBytes(4 * 1024 * 1024, 9500 + test);
    const digest = await sha256(blob);
    upstreams.quay.addBlob(blob, digest, name);
    upstreams.quay.corruptBlobs = true;
    try {
      const response = await request(`/v2/quay/${name}/blobs/${digest}`, ip, budget);
      expect(response.status).toBe(200);
      await expect(response.arrayBuffer()).rejects.toThrow();
      // Time enough for a charge to arrive, had there been one (the object is asked once).
      for (let poll = 0; poll < 20; poll++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(spendingMemoryFor(env.MANIFESTS).blockedFor(`ip:${ip}`, "bytes", limit)).toBe(0);
    } finally {
      upstreams.quay.corruptBlobs = false;
    }
  });
});

describe("/_/stats shows each client's spending", () => {
  it("lists clients with their counted requests and abandoned bytes, this hour and the last day, and the budget", async () => {
    const ip = `192.0.2.${230 + test}`;
    const budget = budgetEnv(1);
    const name = `budget/app${test}`;
    for (const tag of ["1", "2"]) await pushImage(upstreams.quay, name, tag);
    await (await request(`/v2/quay/${name}/manifests/1`, ip, budget)).arrayBuffer();
    await expectRefused(await request(`/v2/quay/${name}/manifests/2`, ip, budget));
    const stats = await request(
      "/_/stats?top=100",
      "127.0.0.1",
      { ...budget, ADMIN_TOKEN: "admin-token-x" } as typeof env,
      {
        headers: { Authorization: "Bearer admin-token-x", Accept: "application/json" },
      },
    );
    expect(stats.status).toBe(200);
    const body = (await stats.json()) as {
      topClients: Array<{ client: string; requests: number; thisHour: { requests: number } }>;
      budget: { requests: number; bytes: number; refused: { requests: number } };
    };
    expect(body.topClients).toContainEqual(
      expect.objectContaining({
        client: ip,
        kind: "ip",
        requests: 1,
        abandonedBytes: 0,
        thisHour: { requests: 1, abandonedBytes: 0 },
      }),
    );
    expect(body.budget.refused.requests).toBeGreaterThanOrEqual(1);
    expect(body.budget.requests).toBeGreaterThan(0);
  });
});
