import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { QUARANTINE_REFRESH_MS, type QuarantineEntry } from "../../src/access/quarantine";
import type { MirrorStats, StatsSnapshot } from "../../src/platform/stats-object";
import { pushImage, type TestImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams, storedBlob } from "../support/mirror";
import { send } from "../support/pull";

const ADMIN_TOKEN = "admin-token-for-quarantine-tests";
const VARS = { ADMIN_TOKEN };
const REASON = "CVE-2026-12345: critical remote code execution in libexample";
let upstreams: ReturnType<typeof fakeUpstreams>;
let test = 0;
let name = "";
let image: TestImage;
beforeEach(async () => {
  upstreams = fakeUpstreams();
  name = `quarantine/app${++test}`;
  image = await pushImage(upstreams.quay, name, "1.0", 700 + test);
  vi.spyOn(console, "log").mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

const admin = (path: string, init: RequestInit = {}) =>
  send(path, VARS, {
    ...init,
    headers: { ...(init.headers as Record<string, string>), Authorization: `Bearer ${ADMIN_TOKEN}` },
  });

async function quarantine(digest: string, reason = REASON) {
  return admin(`/_/quarantine/${digest}`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ reason }),
  });
}

const release = (digest: string) => admin(`/_/quarantine/${digest}`, { method: "DELETE" });

function get(path: string, init: RequestInit = {}) {
  return send(path, VARS, { ...init, headers: { Accept: ACCEPT_ALL, ...(init.headers as object) } });
}

function text(body: Uint8Array): string {
  return new TextDecoder().decode(body);
}

/** The answer is 403 DENIED naming the digest and the reason (a HEAD carries no body). */
function expectRefused(answer: { response: Response; body: Uint8Array }, digest: string) {
  expect(answer.response.status).toBe(403);
  if (answer.body.byteLength > 0) {
    expect(JSON.parse(text(answer.body))).toEqual({
      errors: [{ code: "DENIED", message: `${digest} is quarantined: ${REASON}`, detail: null }],
    });
  }
}

describe("the quarantine API (/_/quarantine, admin token)", () => {
  it("quarantines with a reason, lists, changes the reason, and releases", async () => {
    const digest = image.indexDigest;
    const added = await quarantine(digest);
    expect(added.response.status).toBe(201);
    expect(JSON.parse(text(added.body))).toMatchObject({ digest, reason: REASON });
    const changed = await quarantine(digest, "still bad");
    expect(changed.response.status).toBe(200);
    const listed = JSON.parse(text((await admin("/_/quarantine")).body)) as {
      quarantined: QuarantineEntry[];
    };
    expect(listed.quarantined).toContainEqual(expect.objectContaining({ digest, reason: "still bad" }));
    const released = await release(digest);
    expect(JSON.parse(text(released.body))).toEqual({ digest, released: true });
    expect(JSON.parse(text((await release(digest)).body))).toEqual({ digest, released: false });
    const after = JSON.parse(text((await admin("/_/quarantine")).body)) as { quarantined: QuarantineEntry[] };
    expect(after.quarantined.map((entry) => entry.digest)).not.toContain(digest);
  });

  it("needs the admin token", async () => {
    for (const [path, method] of [
      ["/_/quarantine", "GET"],
      [`/_/quarantine/${image.indexDigest}`, "PUT"],
      [`/_/quarantine/${image.indexDigest}`, "DELETE"],
    ] as const) {
      const { response } = await send(path, VARS, {
        method,
        headers: { Authorization: "Bearer wrong", "Content-Type": "application/json" },
        body: method === "PUT" ? JSON.stringify({ reason: REASON }) : null,
      });
      expect(response.status).toBe(401);
    }
    expect((await get(`/v2/quay/${name}/manifests/1.0`)).response.status).toBe(200);
  });

  it.each<[string, string, string, number, string]>([
    [
      "a digest that is not one",
      "/_/quarantine/latest",
      JSON.stringify({ reason: REASON }),
      400,
      "DIGEST_INVALID",
    ],
    [
      "an unsupported algorithm",
      `/_/quarantine/md5:${"0".repeat(32)}`,
      JSON.stringify({ reason: REASON }),
      400,
      "DIGEST_INVALID",
    ],
    [
      "a short hex",
      `/_/quarantine/sha256:${"a".repeat(63)}`,
      JSON.stringify({ reason: REASON }),
      400,
      "DIGEST_INVALID",
    ],
    [
      "upper-case hex",
      `/_/quarantine/sha256:${"A".repeat(64)}`,
      JSON.stringify({ reason: REASON }),
      400,
      "DIGEST_INVALID",
    ],
    ["a body that is not JSON", `/_/quarantine/sha256:${"a".repeat(64)}`, "{reason:", 400, "UNSUPPORTED"],
    ["no reason", `/_/quarantine/sha256:${"a".repeat(64)}`, JSON.stringify({}), 400, "UNSUPPORTED"],
    [
      "an empty reason",
      `/_/quarantine/sha256:${"a".repeat(64)}`,
      JSON.stringify({ reason: "  " }),
      400,
      "UNSUPPORTED",
    ],
    [
      "a reason over 500 characters",
      `/_/quarantine/sha256:${"a".repeat(64)}`,
      JSON.stringify({ reason: "x".repeat(501) }),
      400,
      "UNSUPPORTED",
    ],
    [
      "a reason of two lines",
      `/_/quarantine/sha256:${"a".repeat(64)}`,
      JSON.stringify({ reason: "a\nb" }),
      400,
      "UNSUPPORTED",
    ],
  ])("refuses %s with a clear 400", async (_case, path, body, status, code) => {
    const { response, body: answer } = await admin(path, {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body,
    });
    expect(response.status).toBe(status);
    expect(JSON.parse(text(answer))).toMatchObject({ errors: [{ code }] });
    const list = JSON.parse(text((await admin("/_/quarantine")).body)) as { quarantined: QuarantineEntry[] };
    expect(list.quarantined.map((entry) => entry.digest)).not.toContain(`sha256:${"a".repeat(64)}`);
  });

  it("shows in /_/stats, and each change is an event", async () => {
    await quarantine(image.indexDigest);
    await release(image.indexDigest);
    const stats = JSON.parse(text((await admin("/_/stats")).body)) as StatsSnapshot;
    const events = stats.events.recent.filter(
      (event) => "digest" in event && event.digest === image.indexDigest,
    );
    expect(events.map((event) => event.type)).toEqual(["quarantine.released", "quarantine.added"]);
    expect(events[1]).toMatchObject({ reason: REASON });
    await quarantine(image.layerDigests[0] ?? "");
    const again = JSON.parse(text((await admin("/_/stats")).body)) as StatsSnapshot;
    expect(again.quarantine.latest).toContainEqual(
      expect.objectContaining({ digest: image.layerDigests[0], reason: REASON }),
    );
    expect(again.quarantine.count).toBeGreaterThanOrEqual(1);
  });
});

describe("a quarantined digest is refused (403 DENIED with the reason)", () => {
  it("an index: by tag, cold and warm, GET and HEAD, and by digest", async () => {
    await quarantine(image.indexDigest);
    expectRefused(await get(`/v2/quay/${name}/manifests/1.0`), image.indexDigest);
    expectRefused(await get(`/v2/quay/${name}/manifests/1.0`, { method: "HEAD" }), image.indexDigest);
    expectRefused(await get(`/v2/quay/${name}/manifests/${image.indexDigest}`), image.indexDigest);
    await release(image.indexDigest);
    // Cached now (KV, and the tag entry): served, then refused from the cache once quarantined again.
    expect((await get(`/v2/quay/${name}/manifests/1.0`)).response.status).toBe(200);
    const requests = upstreams.quay.requests.length;
    await quarantine(image.indexDigest);
    expectRefused(await get(`/v2/quay/${name}/manifests/1.0`), image.indexDigest);
    expectRefused(await get(`/v2/quay/${name}/manifests/${image.indexDigest}`), image.indexDigest);
    expect(upstreams.quay.requests.length).toBe(requests);
  });

  it("an image manifest by digest, without asking the upstream", async () => {
    const digest = image.manifestDigests[0] ?? "";
    await quarantine(digest);
    const requests = upstreams.quay.requests.length;
    expectRefused(await get(`/v2/quay/${name}/manifests/${digest}`), digest);
    expectRefused(await get(`/v2/quay/${name}/manifests/${digest}`, { method: "HEAD" }), digest);
    expect(upstreams.quay.requests.length).toBe(requests);
    // The index that lists it is not quarantined itself.
    expect((await get(`/v2/quay/${name}/manifests/1.0`)).response.status).toBe(200);
    expect((await get(`/v2/quay/${name}/manifests/${image.manifestDigests[1]}`)).response.status).toBe(200);
  });

  it("a blob, stored or not, GET, HEAD and Range, never fetched", async () => {
    const [stored, cold] = image.layerDigests as [string, string];
    expect((await get(`/v2/quay/${name}/blobs/${stored}`)).response.status).toBe(200);
    expect(await storedBlob(stored)).not.toBeNull();
    await quarantine(stored);
    await quarantine(cold);
    const requests = upstreams.quay.requests.length;
    for (const digest of [stored, cold]) {
      expectRefused(await get(`/v2/quay/${name}/blobs/${digest}`), digest);
      expectRefused(await get(`/v2/quay/${name}/blobs/${digest}`, { method: "HEAD" }), digest);
      expectRefused(
        await get(`/v2/quay/${name}/blobs/${digest}`, { headers: { Range: "bytes=0-9" } }),
        digest,
      );
    }
    expect(upstreams.quay.requests.length).toBe(requests);
    await release(stored);
    expect((await get(`/v2/quay/${name}/blobs/${stored}`)).response.status).toBe(200);
  });

  it("in every repository, through every upstream and path form", async () => {
    const other = `quarantine/copy${test}`;
    // The same content in another repository of the same upstream, and on another upstream.
    await pushImage(upstreams.quay, other, "1.0", 700 + test);
    await pushImage(upstreams.oci, name, "1.0", 700 + test);
    await quarantine(image.indexDigest);
    for (const path of [
      `/v2/quay/${other}/manifests/1.0`,
      `/quay/v2/${name}/manifests/1.0`,
      `/v2/${name}/manifests/1.0?ns=quay.io`,
      `/v2/oci/${name}/manifests/1.0`,
      `/v2/oci/${name}/manifests/${image.indexDigest}`,
    ]) {
      expectRefused(await get(path), image.indexDigest);
    }
  });
});

describe("the quarantine on the warm path", () => {
  it("a change made elsewhere reaches this isolate within the minute, with no storage read per pull", async () => {
    const warm = async () => {
      const answers = [];
      for (const reference of ["1.0", image.manifestDigests[0] ?? ""]) {
        answers.push((await get(`/v2/quay/${name}/manifests/${reference}`)).response.status);
      }
      answers.push((await get(`/v2/quay/${name}/blobs/${image.layerDigests[0]}`)).response.status);
      return answers;
    };
    expect(await warm()).toEqual([200, 200, 200]);
    // A clock that runs as the real one does, and can be moved on.
    vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
    // Another isolate quarantines the layer: the stats object has it, this isolate is not told.
    const namespace = env.STATS as DurableObjectNamespace<MirrorStats>;
    await namespace.get(namespace.idFromName("global")).quarantineDigest(image.layerDigests[0] ?? "", REASON);
    // Within the minute this isolate serves on the list it read: a read per pull would have seen it.
    for (let pull = 0; pull < 5; pull++) expect(await warm()).toEqual([200, 200, 200]);
    vi.setSystemTime(Date.now() + QUARANTINE_REFRESH_MS);
    expect(await warm()).toEqual([200, 200, 403]);
    expectRefused(await get(`/v2/quay/${name}/blobs/${image.layerDigests[0]}`), image.layerDigests[0] ?? "");
    vi.useRealTimers();
    await release(image.layerDigests[0] ?? "");
  });
});
