import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseWebhooks } from "../../src/config/webhooks";
import type { MirrorEvent } from "../../src/mirror/events";
import { deliverDue, type EventTargets, targetList } from "../../src/platform/event-delivery";
import {
  backoffMs,
  EventOutbox,
  MAX_ATTEMPTS,
  REFUSAL_REPEAT_MS,
  RESOLUTION_MS,
  SETTLE_MS,
} from "../../src/platform/stats/event-outbox";
import type { MirrorStats } from "../../src/platform/stats-object";

const SECRET = "receiver-shared-secret-0123456789";
const HOOK = "http://127.0.0.1:9/hooks/mirror?token=url-token";

/** A webhook receiver: checks each delivery's signature itself, with WebCrypto's HMAC verify. */
class Receiver {
  readonly deliveries: Array<{ headers: Headers; body: string; signatureValid: boolean }> = [];
  /** Statuses to answer, in turn (then 204). */
  answers: number[] = [];

  install() {
    return vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input, init);
      if (!request.url.startsWith("http://127.0.0.1:9/hooks/")) throw new TypeError("unexpected fetch");
      const body = await request.text();
      const header = request.headers.get("X-Hub-Signature-256") ?? "";
      this.deliveries.push({ headers: request.headers, body, signatureValid: await verify(body, header) });
      return new Response(null, { status: this.answers.shift() ?? 204 });
    });
  }
}

async function verify(body: string, header: string): Promise<boolean> {
  const match = /^sha256=([0-9a-f]{64})$/.exec(header);
  if (!match?.[1]) return false;
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(SECRET),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const signature = new Uint8Array(match[1].match(/../g)?.map((hex) => Number.parseInt(hex, 16)) ?? []);
  return crypto.subtle.verify("HMAC", key, signature, new TextEncoder().encode(body));
}

let receiver: Receiver;
let clock = 0;
const now = () => clock;
const logged: Array<Record<string, unknown>> = [];
const log = (fields: Record<string, unknown>) => logged.push(fields);
let objects = 0;
beforeEach(() => {
  receiver = new Receiver();
  receiver.install();
  clock = 1_700_000_000_000;
  logged.length = 0;
});
afterEach(() => vi.restoreAllMocks());

const targets: EventTargets = {
  webhooks: parseWebhooks(JSON.stringify([{ url: HOOK, secret: SECRET }])),
  queue: null,
};

/** A fresh stats object's storage, with its event outbox. */
async function withOutbox(run: (outbox: EventOutbox) => Promise<void>): Promise<void> {
  const namespace = env.STATS as DurableObjectNamespace<MirrorStats>;
  const stub = namespace.get(namespace.idFromName(`event-delivery-spec-${++objects}`));
  await runInDurableObject(stub, async (_instance, state) => run(new EventOutbox(state.storage.sql)));
}

let ids = 0;
function cached(
  repository: string,
  digest: string,
  platforms: Array<{ platform: string; digest: string }> = [],
): MirrorEvent {
  return {
    type: "image.cached",
    id: `event-${++ids}`,
    time: new Date(clock).toISOString(),
    upstream: "quay",
    repository,
    tag: "1.0",
    digest,
    mediaType:
      platforms.length > 0
        ? "application/vnd.oci.image.index.v1+json"
        : "application/vnd.oci.image.manifest.v1+json",
    platforms,
    pull: `mirror.test/quay/${repository}@${digest}`,
  };
}
const digest = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;

describe("event deliveries (from the stats object's alarm)", () => {
  it("POSTs each event to each webhook once, signed with HMAC-SHA-256 as X-Hub-Signature-256", async () => {
    await withOutbox(async (outbox) => {
      const event = cached("org/app", digest(1));
      outbox.accept([event], targetList(targets), now());
      // Not before the settling time (an index may still cover it).
      await deliverDue(outbox, targets, log, now);
      expect(receiver.deliveries).toHaveLength(0);
      clock += SETTLE_MS;
      await deliverDue(outbox, targets, log, now);
      await deliverDue(outbox, targets, log, now);
      expect(receiver.deliveries).toHaveLength(1);
      const [delivery] = receiver.deliveries;
      expect(delivery?.signatureValid).toBe(true);
      expect(JSON.parse(delivery?.body ?? "")).toEqual(event);
      expect(delivery?.headers.get("X-Mirror-Event")).toBe("image.cached");
      expect(delivery?.headers.get("X-Mirror-Delivery")).toBe(event.id);
      expect(delivery?.headers.get("Content-Type")).toBe("application/json");
      expect(outbox.pending()).toBe(0);
      expect(outbox.targets()).toEqual([
        expect.objectContaining({
          target: new URL(HOOK).href,
          delivered: 1,
          retries: 0,
          failed: 0,
          pending: 0,
        }),
      ]);
    });
  });

  it("a signature made with another secret does not verify at the receiver", async () => {
    const wrong: EventTargets = {
      webhooks: parseWebhooks(JSON.stringify([{ url: HOOK, secret: "not-the-receiver-secret" }])),
      queue: null,
    };
    await withOutbox(async (outbox) => {
      outbox.accept([{ ...cached("org/app", digest(2)) }], targetList(wrong), now());
      clock += SETTLE_MS;
      await deliverDue(outbox, wrong, log, now);
      expect(receiver.deliveries.map((d) => d.signatureValid)).toEqual([false]);
    });
  });

  it("retries a failed delivery with doubling backoff, then gives up and counts it failed", async () => {
    receiver.answers = Array.from({ length: MAX_ATTEMPTS }, () => 500);
    await withOutbox(async (outbox) => {
      outbox.accept([cached("org/app", digest(3))], targetList(targets), now());
      clock += SETTLE_MS;
      const waits: number[] = [];
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        await deliverDue(outbox, targets, log, now);
        expect(receiver.deliveries).toHaveLength(attempt);
        // Nothing more until the backoff has passed.
        await deliverDue(outbox, targets, log, now);
        expect(receiver.deliveries).toHaveLength(attempt);
        const next = outbox.next();
        if (next !== null) {
          waits.push(next - clock);
          clock = next;
        }
      }
      expect(waits).toEqual(Array.from({ length: MAX_ATTEMPTS - 1 }, (_, i) => backoffMs(i + 1)));
      expect(waits[1]).toBe(2 * (waits[0] ?? 0));
      expect(outbox.pending()).toBe(0);
      expect(outbox.next()).toBeNull();
      expect(outbox.targets()).toEqual([
        expect.objectContaining({
          delivered: 0,
          retries: MAX_ATTEMPTS - 1,
          failed: 1,
          lastStatus: "HTTP 500",
        }),
      ]);
      expect(logged).toEqual([
        expect.objectContaining({
          event: "event.delivery_failed",
          attempts: MAX_ATTEMPTS,
          error: "HTTP 500",
        }),
      ]);
      // The log names the webhook by its origin: its path and query may hold a token.
      expect(JSON.stringify(logged)).not.toContain("url-token");
      expect(JSON.stringify(logged)).not.toContain(SECRET);
    });
  });

  it("a delivery that fails once is delivered on its retry", async () => {
    receiver.answers = [503];
    await withOutbox(async (outbox) => {
      outbox.accept([cached("org/app", digest(4))], targetList(targets), now());
      clock += SETTLE_MS;
      await deliverDue(outbox, targets, log, now);
      clock += backoffMs(1);
      await deliverDue(outbox, targets, log, now);
      expect(receiver.deliveries).toHaveLength(2);
      expect(receiver.deliveries[0]?.body).toBe(receiver.deliveries[1]?.body);
      expect(outbox.targets()).toEqual([expect.objectContaining({ delivered: 1, retries: 1, failed: 0 })]);
    });
  });

  it("an attempt cut off before its answer (an evicted alarm) counts: never more than MAX_ATTEMPTS", async () => {
    await withOutbox(async (outbox) => {
      outbox.accept([cached("org/app", digest(5))], targetList(targets), now());
      clock += SETTLE_MS;
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const [delivery] = outbox.due(now(), 1);
        if (delivery) outbox.attempting(delivery, now()); // and then the alarm died
        clock += backoffMs(attempt + 1);
      }
      await deliverDue(outbox, targets, log, now);
      expect(receiver.deliveries).toHaveLength(0);
      expect(outbox.pending()).toBe(0);
      expect(outbox.targets()).toEqual([expect.objectContaining({ failed: 1 })]);
    });
  });

  it("announces an image once per repository, and an index's children only through the index", async () => {
    await withOutbox(async (outbox) => {
      const child = digest(7);
      const list = targetList(targets);
      // The child arrives first (another isolate's batch), then its index, then both again.
      const early = cached("org/multi", child);
      expect(outbox.accept([early], list, now()).accepted).toBe(1);
      const index = cached("org/multi", digest(6), [{ platform: "linux/amd64", digest: child }]);
      expect(outbox.accept([index], list, now()).accepted).toBe(1);
      expect(
        outbox.accept([cached("org/multi", child), cached("org/multi", digest(6))], list, now()).accepted,
      ).toBe(0);
      // The same digest in another repository is another image there.
      expect(outbox.accept([cached("org/other", digest(6))], list, now()).accepted).toBe(1);
      clock += SETTLE_MS;
      await deliverDue(outbox, targets, log, now);
      expect(
        receiver.deliveries.map((d) => `${JSON.parse(d.body).repository}@${JSON.parse(d.body).digest}`),
      ).toEqual([`org/multi@${digest(6)}`, `org/other@${digest(6)}`]);
      expect(outbox.recent().map((event) => event.id)).not.toContain(early.id);
    });
  });

  it("names the tag a client resolved with a HEAD in the event of the digest it then fetched", async () => {
    await withOutbox(async (outbox) => {
      const list = targetList(targets);
      const byDigest = (n: number) => ({ ...cached("org/app", digest(n)), tag: null });
      const resolution = (n: number, tag: string) => ({
        upstream: "quay",
        repository: "org/app",
        tag,
        digest: digest(n),
      });
      // Resolved first, as containerd does (HEAD the tag, GET the digest).
      outbox.resolved([resolution(20, "1.0")], now());
      outbox.accept([byDigest(20)], list, now());
      // Resolved after the event came in, while its delivery waits.
      outbox.accept([byDigest(21)], list, now());
      outbox.resolved([resolution(21, "2.0")], now());
      // A resolution older than RESOLUTION_MS names nothing.
      outbox.resolved([resolution(22, "3.0")], now());
      clock += RESOLUTION_MS + 1;
      outbox.accept([byDigest(22)], list, now());
      clock += SETTLE_MS;
      await deliverDue(outbox, targets, log, now);
      expect(receiver.deliveries.map((d) => [JSON.parse(d.body).digest, JSON.parse(d.body).tag])).toEqual([
        [digest(20), "1.0"],
        [digest(21), "2.0"],
        [digest(22), null],
      ]);
      expect(receiver.deliveries.every((d) => d.signatureValid)).toBe(true);
      expect(outbox.recent().map((event) => event.type === "image.cached" && event.tag)).toEqual([
        null,
        "2.0",
        "1.0",
      ]);
    });
  });

  it("tells a policy refusal of the same digest once an hour, however often clients retry", async () => {
    await withOutbox(async (outbox) => {
      const refused = (): MirrorEvent => ({
        type: "policy.refused",
        id: `refusal-${++ids}`,
        time: new Date(clock).toISOString(),
        upstream: "quay",
        repository: "org/app",
        reference: "1.0",
        digest: digest(10),
        kind: "manifest",
        policy: "SIGNATURE_POLICY[0] (quay/org/*)",
        shortfall: "no signature",
        reason: "not signed",
      });
      const list = targetList(targets);
      expect(outbox.accept([refused(), refused()], list, now()).accepted).toBe(1);
      clock += REFUSAL_REPEAT_MS - 1;
      expect(outbox.accept([refused()], list, now()).accepted).toBe(0);
      clock += 1;
      expect(outbox.accept([refused()], list, now()).accepted).toBe(1);
    });
  });

  it("sends only the event types a webhook asked for, and every event to the Queue", async () => {
    const sent: unknown[] = [];
    const queue = { send: async (body: unknown) => void sent.push(body) } as unknown as Queue;
    const picky: EventTargets = {
      webhooks: parseWebhooks(JSON.stringify([{ url: HOOK, secret: SECRET, events: ["quarantine.added"] }])),
      queue,
    };
    await withOutbox(async (outbox) => {
      const quarantined: MirrorEvent = {
        type: "quarantine.added",
        id: "q-1",
        time: new Date(clock).toISOString(),
        digest: digest(8),
        reason: "CVE-2026-0001",
      };
      outbox.accept([cached("org/app", digest(9)), quarantined], targetList(picky), now());
      clock += SETTLE_MS;
      await deliverDue(outbox, picky, log, now);
      expect(receiver.deliveries.map((d) => JSON.parse(d.body).type)).toEqual(["quarantine.added"]);
      expect(sent).toHaveLength(2);
      expect(sent).toContainEqual(quarantined);
    });
  });
});
