// Events for scanners and quarantine (issue 26, items 4 and 5), on a mirror of its own with
// EVENT_WEBHOOKS pointing at a webhook receiver on 127.0.0.1 (plain http: allowed for loopback only),
// ADMIN_TOKEN and STATS_FLUSH_SECONDS = 0. The receiver checks every delivery's X-Hub-Signature-256
// with Node's own HMAC, independently of the Worker's code. Images are pulled with skopeo.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { skopeoCopy, skopeoInspectRaw, startContainerd, writeHostsToml } from "./harness/clients.ts";
import { bed, startBedMirror } from "./harness/context.ts";
import { logEvents, type Mirror } from "./harness/mirror.ts";
import { fetchT, HOST, listenLoopback, sleep, waitFor } from "./harness/net.ts";
import type { ExpectedImage } from "./harness/push.ts";
import { makeContainersEnv, type SkopeoEnv } from "./harness/skopeo-env.ts";

const b = bed();
/** A multi-platform index (skopeo takes one platform of it). */
const multi = b.images.anon;
/** A single-platform image. */
const single = b.images.fresh;
const PREFIX = "anon";
const ADMIN_TOKEN = randomBytes(24).toString("base64url");
const SECRET = randomBytes(32).toString("base64url");
const REASON = "CVE-2026-31337: critical, found by the e2e scanner";

interface Delivery {
  event: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
  signatureValid: boolean;
}

const deliveries: Delivery[] = [];
let receiver: Server;
let mirror: Mirror;
let host: string;
let env: SkopeoEnv;

function signatureValid(body: Buffer, header: string | undefined): boolean {
  const expected = Buffer.from(`sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`);
  const given = Buffer.from(header ?? "");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      deliveries.push({
        event: JSON.parse(body.toString("utf8")) as Record<string, unknown>,
        headers: req.headers,
        signatureValid: signatureValid(body, req.headers["x-hub-signature-256"] as string | undefined),
      });
      res.writeHead(204).end();
    });
  });
  const port = await listenLoopback(receiver);
  env = makeContainersEnv(mkdtempSync(join(b.workDir, "events-")));
  mirror = await startBedMirror({
    vars: {
      ADMIN_TOKEN,
      STATS_FLUSH_SECONDS: "0",
      EVENT_WEBHOOKS: JSON.stringify([{ url: `http://${HOST}:${port}/hook`, secret: SECRET }]),
    },
    logFile: "wrangler-events.log",
  });
  host = new URL(mirror.url).host;
});
afterAll(async () => {
  await mirror?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
});

const ref = (img: ExpectedImage) => `${host}/${PREFIX}/${img.repo}:${img.tag}`;
let pulls = 0;
function pull(img: ExpectedImage) {
  return skopeoCopy(env, { ref: ref(img), dest: `dir:${join(env.dir, `pull-${pulls++}`)}` });
}

async function adminCall(method: string, path: string, body?: unknown) {
  const res = await fetchT(`${mirror.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

interface EventStats {
  emitted: number;
  delivered: number;
  pending: number;
  failed: number;
}

async function eventStats(): Promise<EventStats> {
  return (JSON.parse((await adminCall("GET", "/_/stats")).text) as { events: EventStats }).events;
}

/** Waits until every event the stats object took is delivered (60 s at most). */
async function allDelivered(atLeast: number): Promise<EventStats> {
  return waitFor(
    `${atLeast} events delivered`,
    async () => {
      const stats = await eventStats();
      return stats.delivered >= atLeast && stats.pending === 0 ? stats : undefined;
    },
    60_000,
    250,
  );
}

const cachedEvents = () => deliveries.filter((d) => d.event.type === "image.cached");

describe("events for scanners", () => {
  it("a webhook on 127.0.0.1 gets one signed image.cached event per new image pulled with skopeo, none for a warm pull", async () => {
    for (const img of [multi, single]) {
      const r = await pull(img);
      expect(r.code, r.stderr).toBe(0);
    }
    await allDelivered(2);
    // Warm pulls of both: every manifest comes from the cache.
    for (const img of [multi, single]) expect((await pull(img)).code).toBe(0);
    // A third new image, so anything the warm pulls had caused would be delivered by the time it is.
    const third = b.images.badinput;
    expect((await pull(third)).code).toBe(0);
    const stats = await allDelivered(3);
    expect(stats.failed).toBe(0);

    const events = cachedEvents();
    expect(events.map((d) => d.event.digest)).toEqual([
      multi.top.digest,
      single.top.digest,
      third.top.digest,
    ]);
    expect(stats.emitted).toBe(3);
    for (const delivery of events) {
      expect(delivery.signatureValid).toBe(true);
      expect(delivery.headers["x-mirror-event"]).toBe("image.cached");
      expect(delivery.headers["x-mirror-delivery"]).toBe(delivery.event.id);
      expect(delivery.headers["content-type"]).toBe("application/json");
    }
    const [index] = events;
    expect(index?.event).toMatchObject({
      upstream: PREFIX,
      repository: multi.repo,
      tag: multi.tag,
      mediaType: multi.top.mediaType,
      pull: `${host}/${PREFIX}/${multi.repo}@${multi.top.digest}`,
    });
    const platforms = (index?.event.platforms ?? []) as Array<{ platform: string; digest: string }>;
    expect(platforms.map((p) => p.platform).sort()).toEqual(["linux/amd64", "linux/arm64/v8"]);
    expect(platforms.map((p) => p.digest).sort()).toEqual(multi.manifests.map((m) => m.digest).sort());
    expect(events[1]?.event.platforms).toEqual([]);
    // The pull reference in the event pulls the image through the mirror.
    const inspected = await skopeoInspectRaw(env, String(index?.event.pull));
    expect(inspected.code, inspected.stderr).toBe(0);
  });

  it("a quarantined image is refused to skopeo with the reason; released, it pulls again", async () => {
    const put = await adminCall("PUT", `/_/quarantine/${multi.top.digest}`, { reason: REASON });
    expect(put.status).toBe(201);
    const refused = await pull(multi);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(REASON);
    expect(refused.stderr).toMatch(/denied/i);
    // By digest too, and a quarantined layer of another image.
    const byDigest = await skopeoInspectRaw(env, `${host}/${PREFIX}/${multi.repo}@${multi.top.digest}`);
    expect(byDigest.code).not.toBe(0);
    expect(byDigest.stderr).toContain(REASON);
    const layer = single.manifests[0]?.layers[0]?.digest ?? "";
    expect((await adminCall("PUT", `/_/quarantine/${layer}`, { reason: REASON })).status).toBe(201);
    const layerRefused = await pull(single);
    expect(layerRefused.code).not.toBe(0);
    // skopeo prints only the status of a refused blob; the mirror's answer carries the reason.
    expect(layerRefused.stderr).toContain("403");
    const blob = await fetchT(`${mirror.url}/v2/${PREFIX}/${single.repo}/blobs/${layer}`);
    expect(blob.status).toBe(403);
    expect(await blob.json()).toEqual({
      errors: [{ code: "DENIED", message: `${layer} is quarantined: ${REASON}`, detail: null }],
    });

    expect((await adminCall("DELETE", `/_/quarantine/${multi.top.digest}`)).status).toBe(200);
    expect((await adminCall("DELETE", `/_/quarantine/${layer}`)).status).toBe(200);
    for (const img of [multi, single]) {
      const r = await pull(img);
      expect(r.code, r.stderr).toBe(0);
    }
    // The changes reached the webhook as signed events, in order.
    await allDelivered(7);
    const changes = deliveries.filter((d) => String(d.event.type).startsWith("quarantine."));
    expect(changes.map((d) => [d.event.type, d.event.digest])).toEqual([
      ["quarantine.added", multi.top.digest],
      ["quarantine.added", layer],
      ["quarantine.released", multi.top.digest],
      ["quarantine.released", layer],
    ]);
    expect(changes.every((d) => d.signatureValid)).toBe(true);
  });

  it("containerd (HEAD the tag, GET by digest) gets its image announced once, with the tag", async () => {
    const img = b.images.ctr;
    // Unix socket paths are limited to 108 bytes: keep containerd's directory short.
    const containerd = await startContainerd(
      mkdtempSync(join(tmpdir(), "e2e-ev-")),
      join(b.workDir, "containerd-events.log"),
    );
    try {
      writeHostsToml(containerd.hostsDir, "anon.e2e", b.deadPort, host, `v2/${PREFIX}`, true);
      const r = await containerd.ctr([
        "content",
        "fetch",
        "--hosts-dir",
        containerd.hostsDir,
        `anon.e2e/${img.repo}:${img.tag}`,
      ]);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      await containerd.stop();
    }
    await allDelivered(8);
    const events = cachedEvents().filter((d) => d.event.repository === img.repo);
    expect(events.map((d) => [d.event.digest, d.event.tag])).toEqual([[img.top.digest, img.tag]]);
    expect(events[0]?.signatureValid).toBe(true);
  });

  it("a bad digest is a clear 400", async () => {
    const bad = await adminCall("PUT", "/_/quarantine/sha256:nothex", { reason: REASON });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text)).toMatchObject({ errors: [{ code: "DIGEST_INVALID" }] });
  });

  it("the webhook's secret is in no response and no log line of the Worker", async () => {
    await sleep(500);
    expect((await adminCall("GET", "/_/stats")).text).not.toContain(SECRET);
    expect(JSON.stringify(logEvents(mirror.process.output()))).not.toContain(SECRET);
  });
});
