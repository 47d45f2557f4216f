// What one scenario costs the mirror's platform: operation counts from the Worker's `GET /_/ops`
// (OP_COUNTERS = "on"), upstream requests from the counting proxy, isolate CPU from a V8 profile and the
// JS heap peak, all over the same window.
import type { OpCounts as WorkerOpCounts } from "../../src/util/op-counters.ts";
import type { RequestCounter } from "../../test/e2e/harness/counting.ts";
import { fetchT } from "../../test/e2e/harness/net.ts";
import { type ScenarioCounts, snapshot } from "./counts.ts";
import { busyMs, type CpuProfile, type ProfileSession, startCpuProfile } from "./cpu-profile.ts";
import { HeapSampler, type HeapWindow } from "./heap.ts";
import type { Inspector } from "./inspector.ts";

type CacheCount = "cacheReads" | "cacheHits" | "cachePuts" | "cacheDeletes";

/**
 * The Worker's counts (src/util/op-counters.ts) as `GET /_/ops` answers them, with the client bodies
 * streaming at that moment. The colo cache's counts are absent from results older than it.
 */
export type OpCounts = Omit<WorkerOpCounts, CacheCount> &
  Partial<Pick<WorkerOpCounts, CacheCount>> & { clientBodies?: number };

export async function readOps(mirrorUrl: string, adminToken: string, reset: boolean): Promise<OpCounts> {
  const res = await fetchT(`${mirrorUrl}/_/ops${reset ? "?reset=1" : ""}`, {
    headers: { authorization: `Bearer ${adminToken}` },
  });
  if (res.status !== 200) throw new Error(`GET /_/ops: ${res.status} ${await res.text()}`);
  return (await res.json()) as OpCounts;
}

export interface ProbeResult {
  seconds: number;
  ops: OpCounts;
  upstream: ScenarioCounts;
  /** Non-idle samples of the isolate's CPU profile (Worker and Durable Objects), ms. */
  cpuBusyMs: number;
  heap: HeapWindow;
}

/** Sampling interval of scenario profiles: coarse, to disturb the figures little. */
const PROFILE_INTERVAL_US = 1000;

export class Probe {
  private session: ProfileSession | undefined;
  private heap: HeapSampler | undefined;
  private started = 0;

  private readonly inspector: Inspector;
  private readonly mirrorUrl: string;
  private readonly adminToken: string;
  private readonly counter: RequestCounter;

  constructor(inspector: Inspector, mirrorUrl: string, adminToken: string, counter: RequestCounter) {
    this.inspector = inspector;
    this.mirrorUrl = mirrorUrl;
    this.adminToken = adminToken;
    this.counter = counter;
  }

  async begin(): Promise<void> {
    await readOps(this.mirrorUrl, this.adminToken, true);
    this.counter.reset();
    this.session = await startCpuProfile(this.inspector, PROFILE_INTERVAL_US);
    this.heap = new HeapSampler(this.inspector);
    this.started = performance.now();
  }

  /** Ends the window; the profile is handed to `keep` (e.g. to write it to disk). */
  async end(keep?: (profile: CpuProfile) => void): Promise<ProbeResult> {
    if (!this.session || !this.heap) throw new Error("Probe.end without begin");
    const seconds = (performance.now() - this.started) / 1000;
    const upstream = snapshot(this.counter);
    const heap = await this.heap.stop();
    const profile = await this.session.stop();
    keep?.(profile);
    const ops = await readOps(this.mirrorUrl, this.adminToken, true);
    this.session = undefined;
    this.heap = undefined;
    return { seconds: Math.round(seconds * 1000) / 1000, ops, upstream, cpuBusyMs: busyMs(profile), heap };
  }
}
