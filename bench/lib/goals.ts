// The goals of issues 7 and 11, judged on a result: the first table of docs/BENCHMARKS.md.
import type { Counts } from "../../test/e2e/harness/counting.ts";
import type { ScenarioCounts } from "./counts.ts";
import { fx, GiB, listed, MiB, mib, ratio } from "./format.ts";
import type { ProbeResult } from "./probe.ts";
import { type BenchResult, FOLLOW_ON_GAP_SECONDS, type Goal, type Scenario, type System } from "./result.ts";

export const gets = (c: Counts | undefined): number => (c ? c["manifest-get"] + c["blob-get"] : Number.NaN);
/** What a scenario wrote: KV writes, R2 class A, SQLite rows. */
const writes = (o: ProbeResult["ops"]): number => o.kvWrites + o.r2ClassA + o.doRowsWritten;
export const upstreamTotal = (c: ScenarioCounts): number =>
  Object.values(c.byKind).reduce((a, b) => a + b, 0);

/** KV writes by key kind ("tag", "manifest", "link", …) from the counters' per-operation names. */
export function kvWriteKinds(
  o: ProbeResult["ops"],
  out: Record<string, number> = {},
): Record<string, number> {
  for (const [op, n] of Object.entries(o.byOp)) {
    const kind = /^kv\.(?:put|delete) (.*)$/.exec(op)?.[1];
    if (kind !== undefined) out[kind] = (out[kind] ?? 0) + n;
  }
  return out;
}

const IMAGE_NAME = { big: "~305 MiB image", many: "20-layer image" } as const;

/** Pull goals: each path's median ÷ direct, per image; the goal is judged on the mirror's. */
function pullGoals(pulls: NonNullable<BenchResult["pulls"]>, goals: Goal[]): void {
  const pull = (what: string, target: number, when: "Cold" | "Follow" | "Warm", viaProxy = false): void => {
    for (const img of ["big", "many"] as const) {
      const q = pulls.ratios[img];
      // A cold pull also crosses the counting proxy in front of the upstream, which a direct pull does
      // not: its ratio to a direct pull through that proxy too is shown beside it (the goal is judged on
      // the plain direct pull).
      const cell = (s: System | undefined): string | undefined => {
        const x = s && q[s];
        if (x === undefined) return undefined;
        return (
          ratio(x) + (viaProxy && q.viaProxy ? ` (${ratio(x / q.viaProxy)} to direct via the proxy)` : "")
        );
      };
      const mirror = q[`mirror${when}` as const];
      goals.push({
        goal: `${what}, ${IMAGE_NAME[img]}`,
        target: `≤ ${target.toFixed(2)}× direct`,
        mirror: cell(`mirror${when}`) ?? "–",
        dist: cell(`dist${when}`) ?? "–",
        passThrough: cell("passThrough"),
        caching: cell(when === "Follow" ? undefined : `caching${when}`),
        met: mirror === undefined || Number.isNaN(mirror) ? null : mirror <= target,
      });
    }
  };
  pull("cold pull", 1.25, "Cold", true);
  pull(`follow-on pull (${FOLLOW_ON_GAP_SECONDS} s after cold)`, 1.1, "Follow");
  pull("warm pull (blobs stored)", 1.1, "Warm");
}

/** Memory and CPU goals of the 1 GiB blob's fills and of warm hits. */
function costGoals(r: BenchResult, goals: Goal[]): void {
  const runs = r.memory?.runs ?? [];
  const fan = runs.filter((x) => (x.clients ?? 1) > 1);
  if (fan.length > 0) {
    const peak = (k: "usedPeakBytes" | "backingStoragePeakBytes"): number =>
      Math.max(...fan.map((x) => x.untilStored?.heap?.[k] ?? x.heap?.[k] ?? 0));
    const [worst, backing] = [peak("usedPeakBytes"), peak("backingStoragePeakBytes")];
    goals.push({
      goal: `JS heap, ${fan[0]?.clients} clients streaming one cold 1 GiB blob (until stored)`,
      target: "< 32 MiB (usedSize peak)",
      mirror: `${mib(worst)}${backing ? ` (ArrayBuffer backing stores, outside it: peak ${mib(backing)})` : ""}`,
      met: worst > 0 ? worst < 32 * MiB : null,
    });
  }
  const single = runs.filter((x) => x.phase === "cold" && (x.clients ?? 1) === 1 && !x.variant);
  const through = runs.find((x) => x.variant === "store-through");
  const perGiB = single.flatMap((x) =>
    x.untilStored?.isolateBusyMs !== undefined ? [x.untilStored.isolateBusyMs / (x.bytes / GiB)] : [],
  );
  const ref = r.memory?.referenceFill;
  if (perGiB.length > 0) {
    const worst = Math.max(...perGiB);
    // Under wrangler dev the profile also counts the local R2 and SQLite work on the isolate's thread; the
    // mirror's own share is its workerd CPU minus that of a Worker storing the same blob with no code per byte.
    const own = (x: (typeof runs)[number], refCpu: number): number =>
      ((x.untilStored?.workerdCpuSeconds ?? 0) - refCpu) / (x.bytes / GiB);
    const ownPerGiB = ref
      ? Math.max(...single.map((x) => own(x, ref.workerdCpuUntilStoredSeconds)))
      : undefined;
    const throughPerGiB =
      ref && through?.untilStored ? own(through, ref.workerdCpuUntilStoredSeconds) : undefined;
    goals.push({
      goal: "isolate CPU per GiB of cold fill (Worker + Durable Objects, until stored)",
      target: "≤ 1.5 s/GiB",
      mirror:
        ownPerGiB === undefined || !ref
          ? `${(worst / 1000).toFixed(2)} s/GiB (worst run)`
          : `${ownPerGiB.toFixed(2)} s/GiB own, spooled (workerd CPU until stored, mirror − a Worker that tees the ` +
            `upstream into the client and R2 with no code per byte: ${(ref.workerdCpuUntilStoredSeconds / (ref.bytes / GiB)).toFixed(2)} s/GiB)` +
            (throughPerGiB === undefined
              ? ""
              : `; ${throughPerGiB.toFixed(2)} s/GiB own when stored as it streams (blobs above SPOOL_MAX_BYTES)`) +
            `; isolate profile ${(worst / 1000).toFixed(2)} s/GiB (worst run)`,
      met: ownPerGiB === undefined ? worst <= 1500 : ownPerGiB <= 1.5,
    });
  }
  const hit = r.platform?.warmHit;
  if (!hit) return;
  const own = hit.ownCpuMsPerRequest;
  goals.push({
    goal:
      own === undefined
        ? "isolate CPU per warm blob request"
        : "CPU per warm blob request: mirror minus a reference Worker doing the same platform calls under wrangler dev",
    target: "< 2 ms",
    mirror:
      own === undefined
        ? `${hit.perRequestMs.toFixed(2)} ms (${hit.requests} requests)`
        : `${own.toFixed(2)} ms (workerd CPU ${fx(hit.mirrorWorkerdCpuMsPerRequest)} ms mirror − ` +
          `${fx(hit.referenceWorkerdCpuMsPerRequest)} ms reference, ${hit.interleavedRounds} alternating rounds of ` +
          `${hit.requests} requests; isolate profile ${hit.perRequestMs.toFixed(2)} ms)`,
    met: (own ?? hit.perRequestMs) < 2,
  });
}

/** What the platform and the upstream saw per scenario. */
function countGoals(r: BenchResult, goals: Goal[]): void {
  const rows = r.platform?.rows ?? [];
  const of = (...scenarios: string[]) => rows.filter((x) => scenarios.includes(x.scenario));
  const perImage = (xs: typeof rows, f: (x: (typeof rows)[number]) => string): string =>
    xs.map((x) => `${x.image}: ${f(x)}`).join("; ");
  const warm = of("warm");
  if (warm.length > 0)
    goals.push({
      goal: "warm pull writes nothing and sends nothing upstream",
      target: "0 writes, 0 upstream requests",
      mirror: perImage(warm, (x) => `${writes(x.ops)} writes, ${upstreamTotal(x.upstream)} upstream`),
      met: warm.every((x) => writes(x.ops) === 0 && upstreamTotal(x.upstream) === 0),
    });
  const hot = of("hot");
  if (hot.length > 0)
    goals.push({
      goal: "warm pull with a hot colo cache reads nothing from R2",
      target: "0 R2 reads",
      mirror: perImage(hot, (x) => `${x.ops.r2ClassB} R2 reads, ${x.ops.cacheHits ?? 0} colo cache hits`),
      met: hot.every((x) => x.ops.r2ClassB === 0),
    });
  const cold = of("cold", "follow", "stored");
  if (cold.length > 0) {
    const byImage = new Map<string, Record<string, number>>();
    for (const x of cold) byImage.set(x.image, kvWriteKinds(x.ops, byImage.get(x.image)));
    goals.push({
      goal: "cold pull (until stored): KV writes only for manifests and tags",
      target: "KV writes of tag/manifest keys only",
      mirror: [...byImage].map(([img, k]) => `${img}: ${listed(k)}`).join("; "),
      met: [...byImage.values()].every((k) =>
        Object.keys(k).every((kind) => kind === "tag" || kind === "manifest"),
      ),
    });
  }
  const up = r.upstream;
  if (!up) return;
  const expired = (c: Scenario | undefined): string =>
    c ? `${gets(c.byKind)} GETs (${c.byKind["manifest-head"]} HEAD)` : "–";
  goals.push({
    goal: "pull after TTL expiry, tag unchanged",
    target: "0 upstream GETs",
    mirror: expired(up.mirror.expired),
    dist: expired(up.dist.expired),
    met: up.mirror.expired ? gets(up.mirror.expired.byKind) === 0 : null,
  });
  const concurrent = (c: Scenario | undefined): string =>
    c ? `max ${c.maxGetsPerBlob} GET/blob (${c.byKind["blob-get"]} blob GETs)` : "–";
  const mc = up.mirror.concurrent;
  goals.push({
    goal: `${r.settings.concurrency} concurrent cold pulls of one image`,
    target: "1 upstream GET per blob",
    mirror: concurrent(mc),
    dist: concurrent(up.dist.concurrent),
    met: mc ? mc.maxGetsPerBlob === 1 && mc.failed === 0 : null,
  });
}

export function evaluateGoals(r: BenchResult): Goal[] {
  const goals: Goal[] = [];
  if (r.pulls) pullGoals(r.pulls, goals);
  costGoals(r, goals);
  countGoals(r, goals);
  return goals;
}
