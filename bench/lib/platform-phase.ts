// The mirror's side of the "counts" phase: per scenario (cold, follow-on, until stored, warm, after TTL,
// concurrent cold), its platform operations, upstream requests, isolate CPU and JS heap, on one mirror
// with OP_COUNTERS on and the inspector attached; and the isolate CPU of warm blob hits.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fetchT, sleep } from "../../test/e2e/harness/net.ts";
import { blobsOf } from "./catalog.ts";
import type { BenchContext } from "./context.ts";
import type { CpuProfile } from "./cpu-profile.ts";
import { round, stats, timedPull, waitForHits } from "./measure.ts";
import { Probe } from "./probe.ts";
import { putReferenceBlob, referenceBlobUrl } from "./reference.ts";
import {
  type BenchResult,
  FOLLOW_ON_GAP_SECONDS,
  type PlatformRow,
  type PlatformScenario,
  type Scenario,
} from "./result.ts";
import { cpuSecondsOfAll, groupMembers } from "./rss.ts";

type UpstreamScenarios = NonNullable<BenchResult["upstream"]>["mirror"];

export interface PlatformPhaseResult {
  platform: NonNullable<BenchResult["platform"]>;
  /** The 20-layer image's scenarios and the concurrent one, for the upstream requests table. */
  upstream: UpstreamScenarios;
}

/** Warm blob GETs per blob of the 20-layer image when measuring the CPU of a hit. */
const WARM_HIT_PASSES = 2;
/** Alternating rounds (mirror, reference Worker) of the warm-hit GETs, without the profiler. */
const WARM_HIT_ROUNDS = 3;
/** Wait after the last HIT before the warm pull (see "until stored"). */
const STORE_SETTLE_MS = 1_000;

export async function platformPhase(
  ctx: BenchContext,
  opts: { shortTtlSeconds: number; concurrency: number },
): Promise<PlatformPhaseResult> {
  const { images, env, log } = ctx;
  const pm = await ctx.probedMirror("counts");
  const m = pm.mirror;
  const probe = new Probe(pm.inspector, m.url, pm.adminToken, ctx.counter);
  const rows: PlatformRow[] = [];
  // Each scenario's V8 profile is kept in the run directory (open it in Chrome's DevTools).
  const keep = (name: string) => (profile: CpuProfile) =>
    writeFileSync(
      join(ctx.runDir, `scenario-${name.replace(/\W+/g, "-")}.cpuprofile`),
      JSON.stringify(profile),
    );
  const upstream: UpstreamScenarios = {};
  const done = async (image: string, scenario: PlatformScenario, pulls = 1): Promise<PlatformRow> => {
    const row: PlatformRow = { image, scenario, pulls, ...(await probe.end(keep(`${image}-${scenario}`))) };
    rows.push(row);
    const o = row.ops;
    log(
      `  ${image} ${scenario}: ${row.seconds.toFixed(2)} s, KV ${o.kvReads}r/${o.kvWrites}w, R2 ${o.r2ClassA}A/${o.r2ClassB}B, ` +
        `cache ${o.cacheReads ?? 0}r(${o.cacheHits ?? 0} hits)/${o.cachePuts ?? 0}p, ` +
        `DO ${o.doRequests} req/${o.doRowsWritten} rows, CPU ${row.cpuBusyMs} ms, heap ${(row.heap.usedPeakBytes / 2 ** 20).toFixed(1)} MiB`,
    );
    return row;
  };
  try {
    for (const key of ["many", "big"] as const) {
      const img = images[key];
      const ref = ctx.mirrorRef(m, img);
      await probe.begin();
      await timedPull(env, ref, ctx.dest("count"));
      await sleep(FOLLOW_ON_GAP_SECONDS * 1000);
      const cold = await done(img.repo, "cold");
      await probe.begin();
      await timedPull(env, ref, ctx.dest("count"));
      const follow = await done(img.repo, "follow");
      await probe.begin();
      await waitForHits(
        ctx.mirrorBlobUrl(m, img),
        blobsOf(img).map((b) => b.digest),
        300_000,
      );
      // A blob answers HIT the moment R2 has it; its fill object drops the spool's rows right after.
      // Those writes belong to "until stored", not to the warm pull that follows.
      await sleep(STORE_SETTLE_MS);
      await done(img.repo, "stored");
      await probe.begin();
      await timedPull(env, ref, ctx.dest("count"));
      const warm = await done(img.repo, "warm");
      // The warm pull put every blob into the colo cache (in the background): the next one reads none
      // from R2.
      await sleep(STORE_SETTLE_MS);
      await probe.begin();
      await timedPull(env, ref, ctx.dest("count"));
      await done(img.repo, "hot");
      if (key === "many") {
        upstream.cold = cold.upstream;
        upstream.follow = follow.upstream;
        upstream.warm = warm.upstream;
      }
    }

    // After TTL expiry: a prefix with a short tagTtl, pulled once (blobs are stored by now), then again
    // once the tag is older than its TTL.
    const firstPull = new Map<string, number>();
    for (const key of ["many", "big"] as const) {
      firstPull.set(key, Date.now());
      await timedPull(env, ctx.mirrorRef(m, images[key], "ttl"), ctx.dest("count"));
    }
    for (const key of ["many", "big"] as const) {
      const wait = (firstPull.get(key) ?? 0) + (opts.shortTtlSeconds + 3) * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      await probe.begin();
      await timedPull(env, ctx.mirrorRef(m, images[key], "ttl"), ctx.dest("count"));
      const expired = await done(images[key].repo, "expired");
      if (key === "many")
        upstream.expired = { ...expired.upstream, secondsAfterCold: opts.shortTtlSeconds + 3 };
    }

    // Warm hits: GETs of the 20-layer image's stored blobs, one after another.
    const blobs = blobsOf(images.many);
    const requests = blobs.length * WARM_HIT_PASSES;
    const mirrorUrls = blobs.map((b) => ctx.mirrorBlobUrl(m, images.many)(b.digest));
    /** The rounds' GETs; CPU of `procs` and wall time per request. */
    const timedGets = async (
      urls: string[],
      procs: ReturnType<typeof groupMembers>,
      header: string,
    ): Promise<{ cpuMs: number; wallMs: number }> => {
      const cpu0 = cpuSecondsOfAll(procs);
      const t = performance.now();
      for (let pass = 0; pass < WARM_HIT_PASSES; pass++) {
        for (const url of urls) {
          const res = await fetchT(url);
          await res.arrayBuffer();
          if (res.status !== 200) throw new Error(`warm GET ${url}: ${res.status}`);
          if (res.headers.get(header) !== "HIT")
            throw new Error(`warm GET ${url}: ${header} ${res.headers.get(header)}`);
        }
      }
      return {
        wallMs: (performance.now() - t) / requests,
        cpuMs: ((cpuSecondsOfAll(procs) - cpu0) * 1000) / requests,
      };
    };
    const workerd = groupMembers(m.process.pid).filter((p) => p.comm.startsWith("workerd"));
    await probe.begin();
    const profiled = await timedGets(mirrorUrls, workerd, "X-Mirror-Cache");
    const hits = await probe.end(keep("warm-hits"));

    // The same GETs of a reference Worker under wrangler dev (bench/reference-worker): the same sizes in
    // its R2, one pass first so its colo cache is as warm as the mirror's; then alternating rounds of
    // both without the profiler, process CPU of each one's workerd processes.
    const ref = await ctx.referenceWorker("warm-hits");
    let interleaved: {
      mirror: { cpuMs: number; wallMs: number }[];
      ref: { cpuMs: number; wallMs: number }[];
    };
    try {
      const refUrls = blobs.map((_, i) => referenceBlobUrl(ref, `blob-${i}`));
      for (const [i, b] of blobs.entries()) await putReferenceBlob(ref, `blob-${i}`, b.size);
      for (const url of refUrls) await (await fetchT(url)).arrayBuffer();
      await sleep(STORE_SETTLE_MS);
      const refWorkerd = groupMembers(ref.process.pid).filter((p) => p.comm.startsWith("workerd"));
      interleaved = { mirror: [], ref: [] };
      for (let r = 0; r < WARM_HIT_ROUNDS; r++) {
        // Alternate which goes first, so neither always follows the other.
        const mirrorRound = async () =>
          interleaved.mirror.push(await timedGets(mirrorUrls, workerd, "X-Mirror-Cache"));
        const refRound = async () =>
          interleaved.ref.push(await timedGets(refUrls, refWorkerd, "X-Reference-Cache"));
        if (r % 2 === 0) {
          await mirrorRound();
          await refRound();
        } else {
          await refRound();
          await mirrorRound();
        }
      }
    } finally {
      await ref.stop();
    }
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const mirrorCpu = mean(interleaved.mirror.map((x) => x.cpuMs));
    const refCpu = mean(interleaved.ref.map((x) => x.cpuMs));
    const warmHit = {
      requests,
      cpuBusyMs: hits.cpuBusyMs,
      perRequestMs: round(hits.cpuBusyMs / requests, 3),
      workerdCpuMsPerRequest: round(profiled.cpuMs, 2),
      interleavedRounds: WARM_HIT_ROUNDS,
      mirrorWorkerdCpuMsPerRequest: round(mirrorCpu, 2),
      referenceWorkerdCpuMsPerRequest: round(refCpu, 2),
      ownCpuMsPerRequest: round(mirrorCpu - refCpu, 2),
      mirrorWallMsPerRequest: round(mean(interleaved.mirror.map((x) => x.wallMs)), 2),
      referenceWallMsPerRequest: round(mean(interleaved.ref.map((x) => x.wallMs)), 2),
    };
    log(
      `  warm hits: ${requests} GETs, isolate CPU ${hits.cpuBusyMs} ms (${warmHit.perRequestMs} ms each), ` +
        `workerd processes ${warmHit.workerdCpuMsPerRequest} ms each (profiled)`,
    );
    log(
      `  warm hits, ${WARM_HIT_ROUNDS} alternating rounds: workerd CPU per request mirror ` +
        `${interleaved.mirror.map((x) => x.cpuMs.toFixed(2)).join("/")} ms, reference Worker ` +
        `${interleaved.ref.map((x) => x.cpuMs.toFixed(2)).join("/")} ms; mirror's own ${warmHit.ownCpuMsPerRequest} ms; ` +
        `wall ${warmHit.mirrorWallMsPerRequest} vs ${warmHit.referenceWallMsPerRequest} ms`,
    );

    // Concurrent cold pulls of an image this mirror has not seen.
    const fanRef = ctx.mirrorRef(m, images.fanout);
    await probe.begin();
    const tc = performance.now();
    const outcomes = await Promise.allSettled(
      Array.from({ length: opts.concurrency }, (_, i) => timedPull(env, fanRef, ctx.dest(`conc-${i}`))),
    );
    const wall = (performance.now() - tc) / 1000;
    const conc = await done(images.fanout.repo, "concurrent", opts.concurrency);
    const ok = outcomes.filter((o) => o.status === "fulfilled").map((o) => o.value);
    const failed = outcomes.flatMap((o) => (o.status === "rejected" ? [String(o.reason).slice(0, 300)] : []));
    const concurrent: Scenario = {
      ...conc.upstream,
      pulls: opts.concurrency,
      failed: failed.length,
      failures: failed.slice(0, 3),
      wallSeconds: round(wall),
      pullSeconds: stats(ok),
    };
    upstream.concurrent = concurrent;
    log(`  ${opts.concurrency} concurrent pulls in ${wall.toFixed(2)} s, ${failed.length} failed`);
    return { platform: { rows, warmHit }, upstream };
  } finally {
    await ctx.stopMirror(pm);
  }
}
