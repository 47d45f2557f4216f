// Memory and CPU of streaming one 1 GiB blob: one client cold (until stored, then ~10 s idle) and warm,
// per repetition; then several clients of the same cold blob at once. workerd's RSS from /proc, the
// isolate's JS heap and a V8 CPU profile through the inspector.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fetchT, sleep } from "../../test/e2e/harness/net.ts";
import { blobsOf } from "./catalog.ts";
import type { BenchContext, ProbedMirror } from "./context.ts";
import { busyMs, startCpuProfile } from "./cpu-profile.ts";
import { HeapSampler, type HeapWindow } from "./heap.ts";
import { type CurlTiming, curlGet, round, waitForHits } from "./measure.ts";
import { type OpCounts, readOps } from "./probe.ts";
import {
  type BenchResult,
  type ConcurrentFills,
  growth,
  type MemoryRun,
  type ReferenceFill,
} from "./result.ts";
import { cpuSecondsOfAll, groupMembers, memoryOf, RssSampler } from "./rss.ts";

/** Seconds of idle after the blob is stored before workerd's RSS is read again. */
const IDLE_SECONDS = 10;
/** How often "until stored" asks whether the blob is stored: each HEAD costs the thread that stores it. */
const STORED_POLL_MS = 1000;
const MiB = 2 ** 20;

async function measure(
  ctx: BenchContext,
  pm: ProbedMirror,
  rep: number,
  phase: "cold" | "warm",
  clients: number,
  profileFile: string,
): Promise<MemoryRun> {
  const { mirror, inspector } = pm;
  const huge = ctx.images.huge;
  const layer = blobsOf(huge).at(-1)?.digest ?? "";
  const members = groupMembers(mirror.process.pid);
  const workerd = members.filter((p) => p.comm.startsWith("workerd"));
  if (workerd.length === 0) throw new Error(`no workerd process in group ${mirror.process.pid}`);
  const url = ctx.mirrorBlobUrl(mirror, huge)(layer);
  const cpu0 = cpuSecondsOfAll(workerd);
  const cpuAll0 = cpuSecondsOfAll(members);
  const started = performance.now();
  const all = new RssSampler(members);
  const sampler = new RssSampler(workerd);
  const fill = phase === "cold" ? new RssSampler(workerd) : undefined;
  await readOps(mirror.url, pm.adminToken, true);
  const heap = new HeapSampler(inspector);
  const profile = phase === "cold" ? await startCpuProfile(inspector, 1000) : undefined;
  let timings: CurlTiming[];
  try {
    timings = await Promise.all(Array.from({ length: clients }, () => curlGet(url)));
  } catch (err) {
    all.stop();
    sampler.stop();
    fill?.stop();
    await heap.stop().catch(() => undefined);
    await profile?.stop().catch(() => undefined);
    throw err;
  }
  const w = sampler.stop();
  const other = all.stop();
  const streamingHeap = heap.window();
  const workerdCpuSeconds = round(cpuSecondsOfAll(workerd) - cpu0, 2);
  const allCpuSeconds = round(cpuSecondsOfAll(members) - cpuAll0, 2);
  let untilStored: MemoryRun["untilStored"];
  if (fill && profile) {
    // The upload to R2 follows the clients: watch it until the blob is stored.
    try {
      await waitForHits(ctx.mirrorBlobUrl(mirror, huge), [layer], 300_000, STORED_POLL_MS);
    } finally {
      const window = fill.stop();
      const storedHeap = await heap.stop();
      const cpuProfile = await profile.stop();
      writeFileSync(profileFile, JSON.stringify(cpuProfile));
      untilStored = {
        seconds: round((performance.now() - started) / 1000, 2),
        workerd: window,
        workerdCpuSeconds: round(cpuSecondsOfAll(workerd) - cpu0, 2),
        isolateBusyMs: busyMs(cpuProfile),
        heap: storedHeap,
      };
    }
    await sleep(IDLE_SECONDS * 1000);
    untilStored.rssAfterIdleBytes = workerd.reduce((n, p) => n + (memoryOf(p.pid)?.rss ?? 0), 0);
    untilStored.idleSeconds = IDLE_SECONDS;
  } else {
    await heap.stop();
  }
  const total = Math.max(...timings.map((t) => t.total));
  const held = heldBytes(await readOps(mirror.url, pm.adminToken, false));
  const run: MemoryRun = {
    held,
    rep,
    phase,
    clients,
    bytes: timings[0]?.bytes ?? 0,
    firstByteSeconds: Math.max(...timings.map((t) => t.firstByte)),
    totalSeconds: total,
    workerd: w,
    allProcesses: other,
    workerdCpuSeconds,
    allCpuSeconds,
    untilStored,
    heap: streamingHeap,
  };
  const s = untilStored;
  ctx.log(
    `  1 GiB ${phase} ×${clients}: ${total.toFixed(1)} s, workerd RSS +${(growth(w) / MiB).toFixed(0)} MiB, ` +
      `JS heap peak ${(streamingHeap.usedPeakBytes / MiB).toFixed(1)} MiB, workerd CPU ${workerdCpuSeconds} s` +
      (s
        ? `; stored after ${s.seconds} s, +${(growth(s.workerd) / MiB).toFixed(0)} MiB, heap peak ` +
          `${((s.heap?.usedPeakBytes ?? 0) / MiB).toFixed(1)} MiB, isolate CPU ${s.isolateBusyMs} ms, ` +
          `RSS after ${IDLE_SECONDS} s idle ${((s.rssAfterIdleBytes ?? 0) / MiB).toFixed(0)} MiB`
        : "") +
      (held ? `; fill machinery held ${describeHeld(held)}` : ""),
  );
  return run;
}

/**
 * What `GET /_/ops` says the fill machinery holds outside the JS heap (rows, chunks, memory spools):
 * its `fillMemory` (bytes held now, the peak since the last reset, the budget).
 */
function heldBytes(ops: OpCounts): Record<string, number> | undefined {
  const memory = (ops as { fillMemory?: unknown }).fillMemory;
  if (!memory || typeof memory !== "object") return undefined;
  const fields = Object.entries(memory).filter(
    (entry): entry is [string, number] => typeof entry[1] === "number",
  );
  return fields.length > 0 ? Object.fromEntries(fields) : undefined;
}

function describeHeld(held: Record<string, number>): string {
  return Object.entries(held)
    .map(([k, v]) => `${k} ${(v / MiB).toFixed(1)} MiB`)
    .join(", ");
}

/**
 * Every layer of the `dozen` image (twelve of 256 MiB) fetched cold at once, one client each: the
 * isolate's JS heap and ArrayBuffers, and what the fill machinery says it holds, until all are stored.
 */
async function concurrentFills(ctx: BenchContext): Promise<ConcurrentFills> {
  const dozen = ctx.images.dozen;
  const layers = blobsOf(dozen).slice(1);
  const pm = await ctx.probedMirror("memory-concurrent");
  try {
    await ctx.getManifest(`${pm.mirror.url}/v2/up`, dozen);
    await sleep(1000);
    await readOps(pm.mirror.url, pm.adminToken, true);
    const heap = new HeapSampler(pm.inspector);
    const started = performance.now();
    const url = ctx.mirrorBlobUrl(pm.mirror, dozen);
    let streamingHeap: HeapWindow | undefined;
    let untilStored: HeapWindow;
    try {
      await Promise.all(layers.map((layer) => curlGet(url(layer.digest))));
      streamingHeap = heap.window();
      await waitForHits(
        url,
        layers.map((layer) => layer.digest),
        600_000,
        STORED_POLL_MS,
      );
    } finally {
      untilStored = await heap.stop();
    }
    streamingHeap ??= untilStored;
    const result: ConcurrentFills = {
      blobs: layers.length,
      blobBytes: layers[0]?.size ?? 0,
      seconds: round((performance.now() - started) / 1000, 2),
      heap: streamingHeap,
      heapUntilStored: untilStored,
      held: heldBytes(await readOps(pm.mirror.url, pm.adminToken, false)),
    };
    ctx.log(
      `  ${result.blobs} cold ${mib(result.blobBytes)} blobs at once: stored after ${result.seconds} s, JS heap peak ` +
        `${(streamingHeap.usedPeakBytes / MiB).toFixed(1)} MiB, heap + ArrayBuffers peak ${(streamingHeap.totalPeakBytes / MiB).toFixed(1)} MiB` +
        (result.held ? `, fill machinery held ${describeHeld(result.held)}` : ""),
    );
    return result;
  } finally {
    await ctx.stopMirror(pm);
  }
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;

/**
 * The same cold 1 GiB fill through the reference Worker, which tees the upstream's body natively into the
 * client's response and an R2 put (no JavaScript per byte): what streaming and storing the blob cost under
 * `wrangler dev` whatever the code, to subtract from the mirror's figures.
 */
async function referenceFill(ctx: BenchContext): Promise<ReferenceFill> {
  const huge = ctx.images.huge;
  const layer = blobsOf(huge).at(-1)?.digest ?? "";
  const ref = await ctx.referenceWorker("memory");
  try {
    const workerd = groupMembers(ref.process.pid).filter((p) => p.comm.startsWith("workerd"));
    const token = await ctx.upstreamToken(huge.repo);
    const cpu0 = cpuSecondsOfAll(workerd);
    const started = performance.now();
    const client = await curlGet(`${ref.url}/ref/fill/${huge.repo}/blobs/${layer}`, 600_000, token);
    const clientCpu = cpuSecondsOfAll(workerd) - cpu0;
    const deadline = Date.now() + 300_000;
    for (;;) {
      const head = await fetchT(`${ref.url}/ref/stored/${layer}`, { method: "HEAD" });
      if (head.status === 200) break;
      if (Date.now() > deadline) throw new Error("the reference fill was not stored within 300 s");
      await sleep(STORED_POLL_MS);
    }
    const fill: ReferenceFill = {
      bytes: client.bytes,
      seconds: client.total,
      workerdCpuSeconds: round(clientCpu, 2),
      untilStoredSeconds: round((performance.now() - started) / 1000, 2),
      workerdCpuUntilStoredSeconds: round(cpuSecondsOfAll(workerd) - cpu0, 2),
    };
    ctx.log(
      `  reference fill of 1 GiB (tee to client and R2): ${fill.seconds.toFixed(1)} s, stored after ` +
        `${fill.untilStoredSeconds} s, workerd CPU ${fill.workerdCpuUntilStoredSeconds} s`,
    );
    return fill;
  } finally {
    await ref.stop();
  }
}

export async function memoryPhase(
  ctx: BenchContext,
  opts: { reps: number; clients: number; runDir: string },
): Promise<NonNullable<BenchResult["memory"]>> {
  const runs: MemoryRun[] = [];
  const huge = ctx.images.huge;
  // The spooled runs name the largest spool (a Durable Object holds 10 GB): the shipped SPOOL_MAX_BYTES
  // fits the default 30 s CPU limit and may be below this 1 GiB layer, which would then not be spooled.
  const spooled = { SPOOL_MAX_BYTES: String(8 * 2 ** 30) };
  for (let rep = 1; rep <= opts.reps; rep++) {
    ctx.log(`memory: repetition ${rep}/${opts.reps}`);
    const pm = await ctx.probedMirror(`memory-${rep}`, spooled);
    try {
      await ctx.getManifest(`${pm.mirror.url}/v2/up`, huge);
      await sleep(1000);
      runs.push(
        await measure(ctx, pm, rep, "cold", 1, join(opts.runDir, `worker-1gib-cold-${rep}.cpuprofile`)),
      );
      await sleep(1000);
      runs.push(await measure(ctx, pm, rep, "warm", 1, ""));
    } finally {
      await ctx.stopMirror(pm);
    }
  }
  const reference = await referenceFill(ctx);
  // The same blob through a mirror that does not spool it (as it would not a blob above SPOOL_MAX_BYTES).
  ctx.log("memory: the 1 GiB blob stored as it streams (SPOOL_MAX_BYTES = 1 MiB)");
  const through = await ctx.probedMirror("memory-store-through", { SPOOL_MAX_BYTES: String(MiB) });
  try {
    await ctx.getManifest(`${through.mirror.url}/v2/up`, huge);
    await sleep(1000);
    const run = await measure(
      ctx,
      through,
      1,
      "cold",
      1,
      join(opts.runDir, "worker-1gib-store-through.cpuprofile"),
    );
    runs.push({ ...run, variant: "store-through" });
  } finally {
    await ctx.stopMirror(through);
  }
  if (opts.clients > 1) {
    ctx.log(`memory: ${opts.clients} clients of one cold 1 GiB blob`);
    const pm = await ctx.probedMirror("memory-fanout", spooled);
    try {
      await ctx.getManifest(`${pm.mirror.url}/v2/up`, huge);
      await sleep(1000);
      runs.push(
        await measure(ctx, pm, 1, "cold", opts.clients, join(opts.runDir, "worker-1gib-fanout.cpuprofile")),
      );
    } finally {
      await ctx.stopMirror(pm);
    }
  }
  ctx.log("memory: 12 cold 256 MiB blobs at once");
  const concurrent = await concurrentFills(ctx);
  return { blobBytes: blobsOf(huge).at(-1)?.size ?? 0, runs, referenceFill: reference, concurrent };
}
