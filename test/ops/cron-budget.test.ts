// The daily cron within an invocation's ~1,000 subrequests: warm-ups and retention each have their own
// share, retention runs however many images WARM_IMAGES lists, and warm-ups that do not fit go on in
// the stats object's alarm where they stopped.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { ConfigError } from "../../src/config/error";
import { MAX_WARM_IMAGES, parseWarmImages, type WarmImage } from "../../src/config/warm-images";
import worker from "../../src/index";
import { warmWithin } from "../../src/ops/warm";
import { servicesFor } from "../../src/platform/services";
import type { MirrorStats } from "../../src/platform/stats-object";
import { OpBudget } from "../../src/util/op-budget";
import { opCounts } from "../../src/util/op-counters";
import { pushImage, type TestImage } from "../support/fake-registry";
import { fakeUpstreams, storedBlob } from "../support/mirror";

let upstreams: ReturnType<typeof fakeUpstreams>;
let logs: string[];
let seed = 900;
beforeEach(() => {
  upstreams = fakeUpstreams();
  logs = [];
  vi.spyOn(console, "log").mockImplementation((line: string) => void logs.push(line));
});
afterEach(() => vi.restoreAllMocks());

async function images(count: number): Promise<{ targets: WarmImage[]; pushed: TestImage[] }> {
  const pushed: TestImage[] = [];
  const names: string[] = [];
  for (let index = 0; index < count; index++) {
    const name = `org/warm-${++seed}`;
    pushed.push(await pushImage(upstreams.quay, name, "1.0", seed));
    names.push(`quay/${name}:1.0`);
  }
  return { targets: parseWarmImages(names, new Set(["quay"])), pushed };
}

/** Every operation this invocation made through its own bindings (the fill objects make their own). */
function spent(): number {
  const counts = opCounts(true);
  return (
    counts.kvReads +
    counts.kvWrites +
    counts.r2ClassA +
    counts.r2ClassB +
    counts.doRequests +
    counts.cacheReads
  );
}

it("spends at most its share, hands on what did not fit, and goes on where it stopped", async () => {
  const { targets, pushed } = await images(4);
  const services = servicesFor({ ...env, OP_COUNTERS: "on" });
  let pending: readonly WarmImage[] = targets;
  const shares: number[] = [];
  for (let run = 0; run < 10 && pending.length > 0; run++) {
    const handedOn: WarmImage[] = [];
    opCounts(true);
    await warmWithin(services, pending, new OpBudget(40), async (rest) => void handedOn.push(...rest));
    shares.push(spent());
    pending = handedOn;
  }
  expect(pending).toEqual([]);
  // One share was not enough for four images; none went over it.
  expect(shares.length).toBeGreaterThan(1);
  for (const share of shares) expect(share).toBeLessThanOrEqual(40);
  for (const image of pushed)
    for (const digest of image.layerDigests) expect(await storedBlob(digest)).not.toBeNull();
  // A warm-up that went on found what it had fetched stored: every blob was fetched once.
  expect(upstreams.quay.count("blob", "GET")).toBe(pushed.length * 4);
});

it("runs retention however many images WARM_IMAGES lists, and leaves the warm-ups that do not fit to the alarm", async () => {
  const { targets } = await images(20);
  const ctx = createExecutionContext();
  await worker.scheduled(
    createScheduledController({ cron: "17 4 * * *" }),
    { ...env, WARM_IMAGES: JSON.stringify(targets.map((target) => target.image)) },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  expect(logs.some((line) => line.includes('"event":"retention"'))).toBe(true);
  const stats = env.STATS as DurableObjectNamespace<MirrorStats>;
  const snapshot = await stats.get(stats.idFromName("global")).snapshot();
  const deferred = snapshot.deferredWarmups.map((entry: { image: string }) => entry.image);
  expect(deferred.length).toBeGreaterThan(0);
  expect(targets.map((target) => target.image)).toEqual(expect.arrayContaining(deferred));
}, 120_000);

it("refuses a WARM_IMAGES longer than the cron can go round, saying how long it may be", () => {
  const list = Array.from({ length: MAX_WARM_IMAGES + 1 }, (_, index) => `quay/org/img-${index}:1`);
  expect(() => parseWarmImages(list, new Set(["quay"]))).toThrow(ConfigError);
  expect(() => parseWarmImages(list, new Set(["quay"]))).toThrow(/WARM_IMAGES: lists 51 images; at most 50/);
  expect(parseWarmImages(list.slice(1), new Set(["quay"]))).toHaveLength(MAX_WARM_IMAGES);
});
