// The benchmark's result shape, the goals (issues 7 and 11), and its renderings: docs/BENCHMARKS.md, the
// SVG chart of the ratios, and the text printed at the end of a run.
import type { Counts } from "../../test/e2e/harness/counting.ts";
import type { ScenarioCounts } from "./counts.ts";
import type { summarize } from "./cpu-profile.ts";
import { type FreePlanScenario, renderFreePlan } from "./free-plan-phase.ts";
import type { HeapWindow } from "./heap.ts";
import type { Stats } from "./measure.ts";
import type { ProbeResult } from "./probe.ts";
import type { ProfileEntry, ProfileSummary } from "./profile.ts";
import type { RssWindow } from "./rss.ts";

/** The pull paths compared, in the tables' and chart's order: label and chart colour. */
const SYSTEM_INFO = {
  direct: ["direct", "#999999"],
  viaProxy: ["direct via counting proxy", "#bbbbbb"],
  passThrough: ["pass-through Worker", "#7a7a7a"],
  mirrorCold: ["mirror cold", "#d9822b"],
  mirrorFollow: ["mirror follow-on", "#e89c3c"],
  mirrorWarm: ["mirror warm", "#f2b134"],
  distCold: ["distribution cold", "#3b6ea5"],
  distFollow: ["distribution follow-on", "#6690c4"],
  distWarm: ["distribution warm", "#8fb3e0"],
  cachingCold: ["caching Worker cold", "#5a9e5a"],
  cachingWarm: ["caching Worker warm", "#8cc68c"],
} as const;
export type System = keyof typeof SYSTEM_INFO;
export const SYSTEMS = Object.keys(SYSTEM_INFO) as System[];
export type PullImage = "big" | "many";
const SYSTEM_LABEL = (s: System): string => SYSTEM_INFO[s][0];

/** Seconds between the end of a cold pull and the follow-on pull. */
export const FOLLOW_ON_GAP_SECONDS = 2;

export const PLATFORM_SCENARIOS = [
  "cold",
  "follow",
  "stored",
  "warm",
  "hot",
  "expired",
  "concurrent",
] as const;
export type PlatformScenario = (typeof PLATFORM_SCENARIOS)[number];

/** One scenario's platform operations, upstream requests, isolate CPU and heap (mirror only). */
export type PlatformRow = ProbeResult & { image: string; scenario: PlatformScenario; pulls: number };

export interface MemoryRun {
  /** The fill machinery's held bytes as `GET /_/ops` reports them (absent when it reports none). */
  held?: Record<string, number>;
  rep: number;
  phase: "cold" | "warm";
  bytes: number;
  firstByteSeconds: number;
  totalSeconds: number;
  /** The workerd process(es) of wrangler dev. */
  workerd: RssWindow;
  /** CPU seconds (user + system) used meanwhile by workerd and by the whole wrangler dev group. */
  workerdCpuSeconds: number;
  allCpuSeconds: number;
  /** Every process of wrangler dev's group (wrangler's Node process too). */
  allProcesses: RssWindow;
  /**
   * Cold only: from the request until the blob is stored (the mirror uploads it to R2 from its spool
   * after the clients have their bytes), so the store's own cost is counted too.
   */
  untilStored?: {
    seconds: number;
    workerd: RssWindow;
    workerdCpuSeconds: number;
    /** Isolate CPU from the V8 profile over the whole fill (client and deferred upload), ms. */
    isolateBusyMs?: number;
    heap?: HeapWindow;
    /** workerd's VmRSS after the blob is stored and ~10 s idle (does it give memory back?). */
    rssAfterIdleBytes?: number;
    idleSeconds?: number;
  };
  /** The isolate's JS heap while the client streamed. */
  heap?: HeapWindow;
  /** Concurrent clients of the one blob (1 unless the fan-out scenario). */
  clients?: number;
  /** "store-through": a mirror with SPOOL_MAX_BYTES below the blob, which it stores as it streams. */
  variant?: "store-through";
}

/** The reference Worker's cold fill of the same 1 GiB blob: tee'd natively to the client and R2. */
/** Several cold blobs fetched at once, one client each (bench/lib/memory-phase.ts). */
export interface ConcurrentFills {
  blobs: number;
  blobBytes: number;
  /** Until every blob was stored. */
  seconds: number;
  /** While the clients streamed, and until every blob was stored. */
  heap: HeapWindow;
  heapUntilStored: HeapWindow;
  /** The fill machinery's held bytes as `GET /_/ops` reports them (absent when it reports none). */
  held?: Record<string, number>;
}

/** Heap and held bytes of the 20-client fan-out of the 1 GiB blob and of the concurrent fills. */
function renderConcurrentFills(
  concurrent: ConcurrentFills | undefined,
  fanout: MemoryRun | undefined,
): string {
  if (!concurrent && !fanout) return "";
  const held = (h: Record<string, number> | undefined) =>
    h
      ? Object.entries(h)
          .map(([k, v]) => `${k} ${mib(v)}`)
          .join(", ")
      : "not reported";
  const rows: string[][] = [];
  if (fanout?.heap)
    rows.push([
      `${fanout.clients} clients, one cold ${mib(fanout.bytes)} blob`,
      mib(fanout.heap.usedPeakBytes),
      mib(fanout.heap.totalPeakBytes),
      held(fanout.held),
    ]);
  if (concurrent)
    rows.push([
      `${concurrent.blobs} cold ${mib(concurrent.blobBytes)} blobs at once (until stored, ${fx(concurrent.seconds)} s)`,
      mib(Math.max(concurrent.heap.usedPeakBytes, concurrent.heapUntilStored.usedPeakBytes)),
      mib(Math.max(concurrent.heap.totalPeakBytes, concurrent.heapUntilStored.totalPeakBytes)),
      held(concurrent.held),
    ]);
  return `## Memory of concurrent fills

The isolate's JS heap (\`usedSize\` peak), the heap plus ArrayBuffer backing stores outside it (peak of single samples), and the bytes the fill machinery says it holds (\`GET /_/ops\`), against 128 MB per isolate in production.

${table("scenario | JS heap peak | heap + ArrayBuffers peak | held by the fills (peak)", rows)}
`;
}

export interface ReferenceFill {
  bytes: number;
  /** The client's whole transfer. */
  seconds: number;
  workerdCpuSeconds: number;
  untilStoredSeconds: number;
  workerdCpuUntilStoredSeconds: number;
}

export interface Goal {
  goal: string;
  target: string;
  mirror: string;
  /** The distribution proxy's figure, where there is one. */
  dist?: string;
  /** Pull goals: the same pull through a Worker that only forwards to the upstream, in the same run. */
  passThrough?: string;
  /** Pull goals: the same scenario through a Worker that caches with no policy, in the same run. */
  caching?: string;
  met: boolean | null;
}

type Timing = { firstByte: Stats; headers: Stats; total: Stats; bytes: number };
export type Scenario = ScenarioCounts & {
  secondsAfterCold?: number;
  pulls?: number;
  failed?: number;
  failures?: string[];
  wallSeconds?: number;
  pullSeconds?: Stats;
};

export interface BenchResult {
  schema: 1 | 2;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  machine: {
    nproc: number;
    /** 1-minute load average at the start and end: other work on the machine skews the figures. */
    loadAverage?: { start: number; end: number };
    cpu: string;
    memoryMiB: number;
    kernel: string;
    os: string;
    node: string;
    wrangler: string;
    workerd: string;
    skopeo: string;
    distribution: string;
    curl: string;
    commit: string;
    /** src/ had uncommitted changes. */
    dirty: boolean;
  };
  settings: {
    reps: number;
    warmPerRep: number;
    memoryReps: number;
    /** Clients of the one cold 1 GiB blob in the fan-out run. */
    memoryClients?: number;
    /** `--quick`: one repetition of everything. */
    quick?: boolean;
    shortTagTtlSeconds: number;
    concurrency: number;
    phases: string[];
    images: Record<string, { repo: string; bytes: number; blobs: number; format: string }>;
  };
  pulls?: {
    seconds: Record<PullImage, Record<System, Stats>>;
    /** Median over median of direct, same run. */
    ratios: Record<PullImage, Record<System, number>>;
    /** After a cold pull through the mirror: seconds until every blob answered HEAD with HIT. */
    mirrorSettleSeconds: Record<PullImage, Stats>;
    /**
     * CPU seconds (user + system) per pull of the serving process: workerd for the mirror, the
     * distribution process for the proxy, the upstream registry for direct pulls.
     */
    serverCpuSeconds: Record<string, Stats>;
    /** Upstream requests of the first pull of each kind. */
    upstreamPerPull: Partial<Record<string, ScenarioCounts>>;
  };
  ttfb?: { blobBytes: number; direct: Timing; mirror: Timing; dist: Timing };
  upstream?: {
    mirror: Partial<Record<"cold" | "follow" | "warm" | "expired" | "concurrent", Scenario>>;
    dist: Partial<Record<"cold" | "follow" | "warm" | "expired" | "concurrent", Scenario>>;
    direct?: { pull: ScenarioCounts };
  };
  /** Per scenario: the mirror's platform operations (OP_COUNTERS), isolate CPU and heap. */
  platform?: {
    rows: PlatformRow[];
    /** Isolate CPU per warm blob request (GETs of stored blobs, one after another). */
    warmHit?: {
      requests: number;
      cpuBusyMs: number;
      perRequestMs: number;
      /** CPU (user + system) of wrangler dev's workerd processes per request, its proxy hop included. */
      workerdCpuMsPerRequest?: number;
      /**
       * Alternating rounds of the same GETs, mirror and reference Worker (bench/reference-worker: the same
       * sizes, the same platform calls, no policy) under wrangler dev, without the profiler.
       */
      interleavedRounds?: number;
      /** workerd CPU per request of the mirror and of the reference Worker in those rounds (means). */
      mirrorWorkerdCpuMsPerRequest?: number;
      referenceWorkerdCpuMsPerRequest?: number;
      /** Mirror minus reference: the mirror's own CPU per warm hit. */
      ownCpuMsPerRequest?: number;
      /** Wall time per request as the client saw it in those rounds. */
      mirrorWallMsPerRequest?: number;
      referenceWallMsPerRequest?: number;
    };
  };
  memory?: {
    blobBytes: number;
    runs: MemoryRun[];
    referenceFill?: ReferenceFill;
    /** Concurrent cold blobs, each with one client: heap and the bytes the fill machinery held. */
    concurrent?: ConcurrentFills;
  };
  /** The Workers Free plan profile: per scenario and kind of invocation, CPU and subrequests. */
  freePlan?: FreePlanScenario[];
  profile?: Record<string, { summary: ProfileSummary; requests: ProfileEntry[] }>;
  /** V8 profile of the Worker streaming the 128 MiB blob. */
  cpuProfile?: Partial<
    Record<
      "cold" | "warm",
      {
        seconds: number;
        processCpuSeconds: { pid: number; comm: string; args: string; seconds: number }[];
        profile: ReturnType<typeof summarize>;
      }
    >
  >;
  goals: Goal[];
}

const MiB = 2 ** 20;
const fx = (x: number | undefined, d = 2): string =>
  x === undefined || Number.isNaN(x) ? "–" : x.toFixed(d);
const ratio = (x: number | undefined): string =>
  x === undefined || Number.isNaN(x) ? "–" : `${x.toFixed(2)}×`;
const mib = (b: number): string => `${(b / MiB).toFixed(0)} MiB`;

function gets(c: Counts | undefined): number {
  return c ? c["manifest-get"] + c["blob-get"] : Number.NaN;
}

export function growth(w: RssWindow): number {
  return w.peakBytes - w.baselineBytes;
}

const GiB = 2 ** 30;

/** What a scenario wrote: KV writes, R2 class A, SQLite rows. */
function writes(o: ProbeResult["ops"]): number {
  return o.kvWrites + o.r2ClassA + o.doRowsWritten;
}

function upstreamTotal(c: ScenarioCounts): number {
  return Object.values(c.byKind).reduce((a, b) => a + b, 0);
}

/** KV writes by key kind ("tag", "manifest", "link", …) from the counters' per-operation names. */
export function kvWriteKinds(o: ProbeResult["ops"]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [op, n] of Object.entries(o.byOp)) {
    const m = /^kv\.(?:put|delete) (.*)$/.exec(op);
    if (m) out[m[1] ?? ""] = (out[m[1] ?? ""] ?? 0) + n;
  }
  return out;
}

const kinds = (k: Record<string, number>): string =>
  Object.entries(k)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(", ") || "none";

export function evaluateGoals(r: BenchResult): Goal[] {
  const goals: Goal[] = [];
  const imgName: Record<PullImage, string> = { big: "~305 MiB image", many: "20-layer image" };
  if (r.pulls) {
    const pulls = r.pulls;
    const pullGoal = (
      what: string,
      target: number,
      mirror: System,
      dist: System,
      upstreamHop = false,
      caching?: System,
    ): void => {
      for (const img of ["big", "many"] as const) {
        const q = pulls.ratios[img];
        // A cold pull also crosses the counting proxy in front of the upstream, which a direct pull does
        // not: its ratio to a direct pull through that proxy too is shown beside it (the goal is judged on
        // the plain direct pull).
        const hop = (x: number | undefined): string =>
          upstreamHop && x !== undefined && q.viaProxy
            ? ` (${ratio(x / q.viaProxy)} to direct via the proxy)`
            : "";
        goals.push({
          goal: `${what}, ${imgName[img]}`,
          target: `≤ ${target.toFixed(2)}× direct`,
          mirror: ratio(q[mirror]) + hop(q[mirror]),
          dist: ratio(q[dist]) + hop(q[dist]),
          passThrough: q.passThrough === undefined ? undefined : ratio(q.passThrough) + hop(q.passThrough),
          caching: caching && q[caching] !== undefined ? ratio(q[caching]) + hop(q[caching]) : undefined,
          met: q[mirror] === undefined || Number.isNaN(q[mirror]) ? null : q[mirror] <= target,
        });
      }
    };
    pullGoal("cold pull", 1.25, "mirrorCold", "distCold", true, "cachingCold");
    pullGoal(`follow-on pull (${FOLLOW_ON_GAP_SECONDS} s after cold)`, 1.1, "mirrorFollow", "distFollow");
    pullGoal("warm pull (blobs stored)", 1.1, "mirrorWarm", "distWarm", false, "cachingWarm");
  }
  const fan = r.memory?.runs.filter((x) => (x.clients ?? 1) > 1) ?? [];
  if (fan.length > 0) {
    const worst = Math.max(
      ...fan.map((x) => x.untilStored?.heap?.usedPeakBytes ?? x.heap?.usedPeakBytes ?? 0),
    );
    const backing = Math.max(
      ...fan.map((x) => x.untilStored?.heap?.backingStoragePeakBytes ?? x.heap?.backingStoragePeakBytes ?? 0),
    );
    goals.push({
      goal: `JS heap, ${fan[0]?.clients} clients streaming one cold 1 GiB blob (until stored)`,
      target: "< 32 MiB (usedSize peak)",
      mirror: `${mib(worst)}${backing ? ` (ArrayBuffer backing stores, outside it: peak ${mib(backing)})` : ""}`,
      met: worst > 0 ? worst < 32 * MiB : null,
    });
  }
  const single =
    r.memory?.runs.filter((x) => x.phase === "cold" && (x.clients ?? 1) === 1 && !x.variant) ?? [];
  const through = r.memory?.runs.find((x) => x.variant === "store-through");
  const perGiB = single.flatMap((x) =>
    x.untilStored?.isolateBusyMs !== undefined ? [x.untilStored.isolateBusyMs / (x.bytes / GiB)] : [],
  );
  const refFill = r.memory?.referenceFill;
  if (perGiB.length > 0) {
    const worst = Math.max(...perGiB);
    // Under wrangler dev the profile also counts the local R2 and SQLite work on the isolate's thread; the
    // mirror's own share is its workerd CPU minus that of a Worker storing the same blob with no code per byte.
    const ownPerGiB = refFill
      ? Math.max(
          ...single.map(
            (x) =>
              ((x.untilStored?.workerdCpuSeconds ?? 0) - refFill.workerdCpuUntilStoredSeconds) /
              (x.bytes / GiB),
          ),
        )
      : undefined;
    const refPerGiB = refFill ? refFill.workerdCpuUntilStoredSeconds / (refFill.bytes / GiB) : 0;
    const throughPerGiB =
      refFill && through?.untilStored
        ? (through.untilStored.workerdCpuSeconds - refFill.workerdCpuUntilStoredSeconds) /
          (through.bytes / GiB)
        : undefined;
    goals.push({
      goal: "isolate CPU per GiB of cold fill (Worker + Durable Objects, until stored)",
      target: "≤ 1.5 s/GiB",
      mirror:
        ownPerGiB === undefined
          ? `${(worst / 1000).toFixed(2)} s/GiB (worst run)`
          : `${ownPerGiB.toFixed(2)} s/GiB own, spooled (workerd CPU until stored, mirror − a Worker that tees the ` +
            `upstream into the client and R2 with no code per byte: ${refPerGiB.toFixed(2)} s/GiB)` +
            (throughPerGiB === undefined
              ? ""
              : `; ${throughPerGiB.toFixed(2)} s/GiB own when stored as it streams (blobs above SPOOL_MAX_BYTES)`) +
            `; isolate profile ${(worst / 1000).toFixed(2)} s/GiB (worst run)`,
      met: ownPerGiB === undefined ? worst <= 1500 : ownPerGiB <= 1.5,
    });
  }
  const hit = r.platform?.warmHit;
  if (hit?.ownCpuMsPerRequest !== undefined) {
    goals.push({
      goal: "CPU per warm blob request: mirror minus a reference Worker doing the same platform calls under wrangler dev",
      target: "< 2 ms",
      mirror:
        `${hit.ownCpuMsPerRequest.toFixed(2)} ms (workerd CPU ${fx(hit.mirrorWorkerdCpuMsPerRequest)} ms mirror − ` +
        `${fx(hit.referenceWorkerdCpuMsPerRequest)} ms reference, ${hit.interleavedRounds} alternating rounds of ` +
        `${hit.requests} requests; isolate profile ${hit.perRequestMs.toFixed(2)} ms)`,
      met: hit.ownCpuMsPerRequest < 2,
    });
  } else if (hit) {
    goals.push({
      goal: "isolate CPU per warm blob request",
      target: "< 2 ms",
      mirror: `${hit.perRequestMs.toFixed(2)} ms (${hit.requests} requests)`,
      met: hit.perRequestMs < 2,
    });
  }
  const rows = r.platform?.rows ?? [];
  const warm = rows.filter((x) => x.scenario === "warm");
  if (warm.length > 0) {
    goals.push({
      goal: "warm pull writes nothing and sends nothing upstream",
      target: "0 writes, 0 upstream requests",
      mirror: warm
        .map((x) => `${x.image}: ${writes(x.ops)} writes, ${upstreamTotal(x.upstream)} upstream`)
        .join("; "),
      met: warm.every((x) => writes(x.ops) === 0 && upstreamTotal(x.upstream) === 0),
    });
  }
  const hot = rows.filter((x) => x.scenario === "hot");
  if (hot.length > 0) {
    goals.push({
      goal: "warm pull with a hot colo cache reads nothing from R2",
      target: "0 R2 reads",
      mirror: hot
        .map((x) => `${x.image}: ${x.ops.r2ClassB} R2 reads, ${x.ops.cacheHits ?? 0} colo cache hits`)
        .join("; "),
      met: hot.every((x) => x.ops.r2ClassB === 0),
    });
  }
  const cold = rows.filter(
    (x) => x.scenario === "cold" || x.scenario === "follow" || x.scenario === "stored",
  );
  if (cold.length > 0) {
    const byImage = new Map<string, Record<string, number>>();
    for (const x of cold) {
      const k = byImage.get(x.image) ?? {};
      for (const [kind, n] of Object.entries(kvWriteKinds(x.ops))) k[kind] = (k[kind] ?? 0) + n;
      byImage.set(x.image, k);
    }
    goals.push({
      goal: "cold pull (until stored): KV writes only for manifests and tags",
      target: "KV writes of tag/manifest keys only",
      mirror: [...byImage].map(([img, k]) => `${img}: ${kinds(k)}`).join("; "),
      met: [...byImage.values()].every((k) =>
        Object.keys(k).every((kind) => kind === "tag" || kind === "manifest"),
      ),
    });
  }
  const up = r.upstream;
  if (up) {
    const m = up.mirror.expired;
    const d = up.dist.expired;
    goals.push({
      goal: "pull after TTL expiry, tag unchanged",
      target: "0 upstream GETs",
      mirror: m ? `${gets(m.byKind)} GETs (${m.byKind["manifest-head"]} HEAD)` : "–",
      dist: d ? `${gets(d.byKind)} GETs (${d.byKind["manifest-head"]} HEAD)` : "–",
      met: m ? gets(m.byKind) === 0 : null,
    });
    const mc = up.mirror.concurrent;
    const dc = up.dist.concurrent;
    const desc = (c: Scenario | undefined): string =>
      c ? `max ${c.maxGetsPerBlob} GET/blob (${c.byKind["blob-get"]} blob GETs)` : "–";
    goals.push({
      goal: `${r.settings.concurrency} concurrent cold pulls of one image`,
      target: "1 upstream GET per blob",
      mirror: desc(mc),
      dist: desc(dc),
      met: mc ? mc.maxGetsPerBlob === 1 && mc.failed === 0 : null,
    });
  }
  return goals;
}

/** A Markdown table; `head` is its header row as written, cells separated by " | ". */
function table(head: string, rows: string[][]): string {
  const cells = head.split(" | ");
  const line = (row: string[]): string => `| ${row.join(" | ")} |`;
  return [line(cells), line(cells.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Every path but the counting proxy's, whose CPU is the upstream's. */
const CPU_SYSTEMS = SYSTEMS.filter((s) => s !== "viaProxy");

/** Peaks of ArrayBuffer backing stores and embedder memory, when V8 reports them. */
function heapBacking(h: HeapWindow | undefined): string {
  if (h?.backingStoragePeakBytes === undefined) return "–";
  const embedder =
    h.embedderPeakBytes !== undefined ? ` (embedder ${fx(h.embedderPeakBytes / MiB, 1)} MiB)` : "";
  return `${mib(h.backingStoragePeakBytes)}${embedder}`;
}

const PLATFORM_LABEL: Record<PlatformScenario, string> = {
  cold: `cold pull (+ ${FOLLOW_ON_GAP_SECONDS} s)`,
  follow: "follow-on pull",
  stored: "until stored (HEAD polls)",
  warm: "warm pull",
  hot: "warm pull, colo cache hot",
  expired: "after TTL expiry",
  concurrent: "concurrent cold pulls",
};

/** The per-scenario table: the mirror's platform operations, upstream requests, isolate CPU, heap. */
function renderPlatform(r: BenchResult): string {
  const p = r.platform;
  if (!p) return "";
  const out: string[] = [
    '\n## Platform operations per scenario\n\nOne fresh mirror with `OP_COUNTERS = "on"` (counting Proxies around ' +
      "R2, KV and the Durable Object namespaces, read at `GET /_/ops`) and the inspector attached. Per " +
      "scenario: R2 class A (put, multipart, delete, list) and B (head, get), KV reads and writes, Durable " +
      "Object requests (stub fetch/RPC calls) and SQLite rows written (as the fill code reports them), " +
      "requests reaching the upstream, the isolate's CPU (non-idle samples of a V8 profile, 1 ms interval) " +
      `and its JS heap peak (usedSize). "cold" runs from the cold pull until the follow-on starts ` +
      `${FOLLOW_ON_GAP_SECONDS} s after it; "until stored" from the end of the follow-on until every blob ` +
      "answers HEAD with HIT (those HEADs count too: R2 head, KV reads); after TTL pulls a second prefix " +
      `(\`tagTtl = ${r.settings.shortTagTtlSeconds}\`) ${r.settings.shortTagTtlSeconds + 3} s after its first pull; ` +
      `concurrent = ${r.settings.concurrency} skopeo pulls of ${r.settings.images.fanout?.repo} at once. ` +
      "Cache reads and puts are the colo cache's (Workers Cache API, simulated locally by `wrangler dev`): the " +
      'first warm pull reads each blob from R2 and puts it there; "colo cache hot" is the warm pull after it. ' +
      "The benchmark's own `/_/ops` requests are in the figures (no binding calls of their own).\n",
  ];
  out.push(
    table(
      "image | scenario | seconds | KV reads | KV writes | R2 class A | R2 class B | cache reads (hits) | cache puts | DO requests | DO rows written | upstream requests (GETs) | isolate CPU ms | JS heap peak / backing stores peak | KV writes by key",
      p.rows.map((x) => [
        x.image,
        `${PLATFORM_LABEL[x.scenario]}${x.pulls > 1 ? ` ×${x.pulls}` : ""}`,
        fx(x.seconds),
        String(x.ops.kvReads),
        String(x.ops.kvWrites),
        String(x.ops.r2ClassA),
        String(x.ops.r2ClassB),
        x.ops.cacheReads === undefined ? "–" : `${x.ops.cacheReads} (${x.ops.cacheHits ?? 0})`,
        x.ops.cachePuts === undefined ? "–" : String(x.ops.cachePuts),
        String(x.ops.doRequests),
        String(x.ops.doRowsWritten),
        `${upstreamTotal(x.upstream)} (${gets(x.upstream.byKind)})`,
        x.cpuBusyMs.toFixed(0),
        `${mib(x.heap.usedPeakBytes)} / ${x.heap.backingStoragePeakBytes !== undefined ? mib(x.heap.backingStoragePeakBytes) : "–"}`,
        kinds(kvWriteKinds(x.ops)),
      ]),
    ),
  );
  if (p.warmHit)
    out.push(
      `\nWarm hits: ${p.warmHit.requests} GETs of stored blobs one after another: isolate CPU ${fx(p.warmHit.cpuBusyMs, 1)} ms, ` +
        `**${fx(p.warmHit.perRequestMs)} ms per request**` +
        (p.warmHit.workerdCpuMsPerRequest !== undefined
          ? ` (process CPU of wrangler dev's workerd processes, its proxy hop included: ${fx(p.warmHit.workerdCpuMsPerRequest)} ms per request).`
          : ".") +
        (p.warmHit.ownCpuMsPerRequest !== undefined
          ? ` Then ${p.warmHit.interleavedRounds} alternating rounds of the same ${p.warmHit.requests} GETs, profiler off, ` +
            "against the mirror and against the reference Worker (bench/reference-worker, under `wrangler dev` too: " +
            "blobs of the same sizes, `caches.default.match`, on a miss R2 through a FixedLengthStream and a " +
            "background cache put, one JSON log line per request; its cache warmed by a first pass): workerd CPU " +
            `per request ${fx(p.warmHit.mirrorWorkerdCpuMsPerRequest)} ms mirror, ${fx(p.warmHit.referenceWorkerdCpuMsPerRequest)} ms reference, ` +
            `**${fx(p.warmHit.ownCpuMsPerRequest)} ms the mirror's own**; wall time per request ` +
            `${fx(p.warmHit.mirrorWallMsPerRequest)} ms mirror, ${fx(p.warmHit.referenceWallMsPerRequest)} ms reference.`
          : ""),
    );
  return out.join("\n");
}

function statCell(s: Stats | undefined, d = 2): string {
  if (!s || s.n === 0) return "–";
  return `${fx(s.median, d)} (${fx(s.min, d)}–${fx(s.max, d)})`;
}

/** The figures as Markdown sections (shared by the document and the console output). */
export function renderFigures(r: BenchResult): string {
  const out: string[] = [];
  const imgs = r.settings.images;
  if (r.goals.length > 0) {
    out.push("## Goals\n");
    out.push(
      table(
        "goal | target | mirror | distribution proxy (peer) | a Worker that only forwards (same run) | a Worker that caches with no policy (same run) | mirror meets it",
        r.goals.map((g) => [
          g.goal,
          g.target,
          g.mirror,
          g.dist ?? "–",
          g.passThrough ?? "–",
          g.caching ?? "–",
          g.met === null ? "–" : g.met ? "yes" : "**no**",
        ]),
      ),
    );
  }
  if (r.pulls) {
    const p = r.pulls;
    out.push(
      `\n## Pull time\n\n\`skopeo copy docker://… dir:…\`, seconds: median (min–max) of ${p.seconds.big.direct.n} direct / ` +
        `${p.seconds.big.mirrorCold.n} cold / ${p.seconds.big.mirrorWarm.n} warm pulls; ratio = median ÷ median of direct in this run.\n`,
    );
    const rows: string[][] = [];
    for (const img of ["big", "many"] as const) {
      const info = imgs[img];
      const label = `${info?.repo} (${mib(info?.bytes ?? 0)}, ${info?.blobs} blobs)`;
      rows.push([label, ...SYSTEMS.map((s) => statCell(p.seconds[img][s]))]);
      rows.push(["… ratio to direct", ...SYSTEMS.map((s) => ratio(p.ratios[img][s]))]);
    }
    out.push(table(["image", ...SYSTEMS.map(SYSTEM_LABEL)].join(" | "), rows));
    const c = p.serverCpuSeconds ?? {};
    const cpuRows: string[][] = [];
    for (const img of ["big", "many"] as const) {
      cpuRows.push([imgs[img]?.repo ?? img, ...CPU_SYSTEMS.map((s) => statCell(c[`${img}-${s}`]))]);
    }
    // The time-to-first-byte blob has a cold mirror and a cold distribution figure only.
    cpuRows.push([
      `bench/ttfb blob (${mib(r.ttfb?.blobBytes ?? 0)}), cold`,
      ...CPU_SYSTEMS.map((s) => (s === "mirrorCold" || s === "distCold" ? statCell(c[`ttfb-${s}`]) : "–")),
    ]);
    out.push(
      "\nCPU seconds (user + system) the serving process used per pull: the upstream `docker-registry` for " +
        "direct pulls, `workerd` for the mirror and the pass-through and caching Workers, the proxy's `docker-registry` for " +
        "distribution (the upstream's CPU not included for any of them).\n",
    );
    out.push(
      table(
        "image | direct (registry) | pass-through Worker (workerd) | mirror cold (workerd) | mirror follow-on | mirror warm | distribution cold | distribution follow-on | distribution warm | caching Worker cold (workerd) | caching Worker warm",
        cpuRows,
      ),
    );
    out.push(
      `\nThe follow-on pull starts ${FOLLOW_ON_GAP_SECONDS} s after the cold pull ends (the mirror may still be ` +
        "uploading the blobs to R2). After it, the benchmark waits until every blob answers HEAD with " +
        "`X-Mirror-Cache: HIT` (the fill has landed in R2) before the warm pulls: " +
        `${statCell(p.mirrorSettleSeconds.big)} s for the big image, ${statCell(p.mirrorSettleSeconds.many)} s for the 20-layer one. ` +
        "distribution gets the same follow-on pull; its warm pulls follow at once. The caching Worker's " +
        `warm pulls start ${FOLLOW_ON_GAP_SECONDS} s after its cold one (its first is thus also its follow-on).`,
    );
  }
  if (r.ttfb) {
    const t = r.ttfb;
    out.push(
      `\n## Time to first byte\n\nOne uncached ${mib(t.blobBytes)} blob, \`GET /v2/…/blobs/<digest>\` after the ` +
        "manifest (so every path already holds an upstream token), seconds: median (min–max).\n",
    );
    const row = (name: string, x: Timing): string[] => [
      name,
      statCell(x.headers, 3),
      statCell(x.firstByte, 3),
      statCell(x.total, 2),
      ratio(x.firstByte.median / t.direct.firstByte.median),
    ];
    out.push(
      table("path | response headers | first body byte | whole blob | first byte vs direct", [
        row("direct (upstream)", t.direct),
        row("mirror, cold", t.mirror),
        row("distribution proxy, cold", t.dist),
      ]),
    );
  }
  if (r.upstream) {
    const u = r.upstream;
    out.push(
      "\n## Upstream requests\n\nRequests reaching the upstream (counting proxy in front of the registry, plus its " +
        `token server), 20-layer image unless noted. The mirror's "after TTL" pull uses a prefix with ` +
        `\`tagTtl = ${r.settings.shortTagTtlSeconds}\` and comes ${r.settings.shortTagTtlSeconds + 3} s after the cold ` +
        "pull; distribution has no tag TTL (it asks the upstream on every tag request), so its row is simply a " +
        "later pull.\n",
    );
    const rows: string[][] = [];
    const add = (who: string, what: string, c: Scenario | undefined): void => {
      if (!c) return;
      const k = c.byKind;
      rows.push([
        who,
        what,
        String(k.token),
        String(k["manifest-head"]),
        String(k["manifest-get"]),
        String(k["blob-head"]),
        String(k["blob-get"]),
        String(c.maxGetsPerBlob),
        String(k.ping + k.other + k.tags),
        c.failed === undefined ? "" : `${c.failed}/${c.pulls} failed, ${fx(c.wallSeconds)} s wall`,
      ]);
    };
    if (u.direct) add("client alone", "one pull, no cache", u.direct.pull);
    for (const [who, s] of [
      ["mirror", u.mirror],
      ["distribution", u.dist],
    ] as const) {
      add(who, "cold pull", s.cold);
      add(who, "warm pull inside TTL", s.warm);
      add(who, "pull after TTL expiry", s.expired);
      add(who, `${r.settings.concurrency} concurrent cold pulls (${imgs.fanout?.repo})`, s.concurrent);
    }
    out.push(
      table(
        "who | scenario | token | manifest HEAD | manifest GET | blob HEAD | blob GET | max GETs per blob | ping/other | ",
        rows,
      ),
    );
  }
  if (r.platform) out.push(renderPlatform(r));
  if (r.memory) {
    out.push(
      `\n## Memory while streaming a 1 GiB blob\n\n\`curl\` of one ${mib(r.memory.blobBytes)} blob through a fresh ` +
        "mirror (cold), then again once stored (warm); in the fan-out run, several `curl` clients fetch the " +
        "same cold blob at once on another fresh mirror. Resident memory (VmRSS, sampled every 20 ms) of the " +
        "`workerd` process of `wrangler dev`; growth = peak − value just before the request. The cold fill " +
        'goes on after the clients are done (the upload from the spool to R2): the "until stored" columns ' +
        "watch it until the blob answers HEAD with `X-Mirror-Cache: HIT`. JS heap: `Runtime.getHeapUsage` " +
        "of the Worker's isolate through wrangler's inspector every ~50 ms (usedSize; ArrayBuffer backing " +
        "stores apart when V8 reports them). Isolate CPU: non-idle samples of a V8 CPU profile (1 ms " +
        "interval) from the request until stored, Worker and Durable Objects together (one isolate under " +
        "`wrangler dev`), per GiB of blob. The profile counts wall time between samples, so it includes " +
        "synchronous native calls (SQLite) and time the thread waits for a core when the machine is " +
        "oversubscribed: compare with workerd's process CPU. RSS after idle: workerd's VmRSS ~10 s after the blob was stored. " +
        "The run marked (store-through) is another fresh mirror with `SPOOL_MAX_BYTES` = 1 MiB: the blob goes to R2 " +
        "as it streams to the client, as every blob above that limit does.\n",
    );
    out.push(
      table(
        "run | clients | seconds | first byte (s) | workerd CPU s | workerd RSS before | peak | growth | of which anonymous | of which file-backed | VmHWM after | wrangler+workerd growth | until stored (s) | workerd CPU s until stored | growth until stored | RSS after idle | JS heap peak (streaming) | JS heap peak until stored | backing stores peak (embedder) | isolate CPU until stored",
        r.memory.runs.map((x) => [
          `${x.rep} ${x.phase}${x.variant ? ` (${x.variant})` : ""}`,
          String(x.clients ?? 1),
          fx(x.totalSeconds),
          fx(x.firstByteSeconds, 3),
          fx(x.workerdCpuSeconds),
          mib(x.workerd.baselineBytes),
          mib(x.workerd.peakBytes),
          `**${mib(growth(x.workerd))}**`,
          mib((x.workerd.anonPeakBytes ?? 0) - (x.workerd.anonBaselineBytes ?? 0)),
          mib((x.workerd.filePeakBytes ?? 0) - (x.workerd.fileBaselineBytes ?? 0)),
          mib(x.workerd.hwmAfterBytes),
          mib(growth(x.allProcesses)),
          ...(x.untilStored
            ? [
                fx(x.untilStored.seconds),
                fx(x.untilStored.workerdCpuSeconds),
                `**${mib(growth(x.untilStored.workerd))}**`,
              ]
            : ["–", "–", "–"]),
          x.untilStored?.rssAfterIdleBytes ? mib(x.untilStored.rssAfterIdleBytes) : "–",
          x.heap ? mib(x.heap.usedPeakBytes) : "–",
          x.untilStored?.heap ? `**${mib(x.untilStored.heap.usedPeakBytes)}**` : "–",
          heapBacking(x.untilStored?.heap ?? x.heap),
          x.untilStored?.isolateBusyMs !== undefined
            ? `${fx(x.untilStored.isolateBusyMs / 1000)} s (${fx(x.untilStored.isolateBusyMs / 1000 / (x.bytes / GiB))} s/GiB)`
            : "–",
        ]),
      ),
    );
    const f = r.memory.referenceFill;
    if (f) {
      out.push(
        `\nThe same cold blob through the reference Worker (bench/reference-worker, \`/ref/fill\`), which ` +
          "tees the upstream's body natively into the response and into an R2 put checked against the sha256 " +
          `(no JavaScript per byte): client ${fx(f.seconds)} s (workerd CPU ${fx(f.workerdCpuSeconds)} s), ` +
          `stored after ${fx(f.untilStoredSeconds)} s, workerd CPU until stored ${fx(f.workerdCpuUntilStoredSeconds)} s ` +
          `(${fx(f.workerdCpuUntilStoredSeconds / (f.bytes / GiB))} s/GiB). Under \`wrangler dev\` the local R2 runs ` +
          "on the same thread, so storing while streaming paces the client: this is what a fill costs whatever " +
          "its code, and the goal table counts the mirror's CPU beyond it as its own.\n",
      );
    }
  }
  if (r.cpuProfile) {
    out.push(
      "\n## CPU profile of the Worker\n\nV8 sampling profile of the Worker's isolate " +
        "(through wrangler's inspector) while `curl` fetched the 128 MiB blob; self time per function, busiest first. " +
        "Work outside the isolate (workerd's own I/O, local R2 and SQLite) shows only in the process CPU.\n",
    );
    for (const phase of ["cold", "warm"] as const) {
      const p = r.cpuProfile[phase];
      if (!p) continue;
      const procs = p.processCpuSeconds.map((x) => `${x.comm} ${x.pid}: ${x.seconds} s`).join(", ");
      out.push(
        `\n**${phase}**: ${fx(p.seconds)} s; isolate busy ${p.profile.busyMs} ms of ${p.profile.wallMs} ms; process CPU ${procs}.\n`,
      );
      out.push(
        table(
          "function (self time) | ms | share of busy",
          p.profile.functions.slice(0, 12).map((f) => [`\`${f.fn}\``, String(f.ms), `${f.share}%`]),
        ),
      );
      if (p.profile.callers) {
        out.push("\nThe same samples, native calls charged to their JavaScript caller:\n");
        out.push(
          table(
            "JavaScript function (with the natives it called) | ms | share of busy",
            p.profile.callers.slice(0, 12).map((f) => [`\`${f.fn}\``, String(f.ms), `${f.share}%`]),
          ),
        );
      }
    }
  }
  return out.join("\n");
}

function machineTable(r: BenchResult): string {
  const m = r.machine;
  return table(" | ", [
    ["date", `${r.startedAt} (run took ${r.durationSeconds} s)`],
    ["CPU", `${m.nproc} × ${m.cpu}`],
    ["memory", `${m.memoryMiB} MiB`],
    [
      "load average (1 min)",
      m.loadAverage
        ? `${m.loadAverage.start.toFixed(2)} at start, ${m.loadAverage.end.toFixed(2)} at end`
        : "–",
    ],
    ["OS", `${m.os}, Linux ${m.kernel}`],
    ["Node", m.node],
    ["wrangler / workerd", `${m.wrangler} / ${m.workerd}`],
    ["skopeo", m.skopeo],
    ["distribution", m.distribution],
    ["commit", `${m.commit}${m.dirty ? " (with uncommitted changes in src/)" : ""}`],
    [
      "repetitions",
      `${r.settings.reps}, each with ${r.settings.warmPerRep} direct, ${r.pulls?.seconds.big.passThrough ? `${r.settings.warmPerRep} pass-through Worker, ` : ""}1 cold and ${r.settings.warmPerRep} warm pulls per image and path; ${r.settings.memoryReps} for the 1 GiB blob`,
    ],
  ]);
}

const NOTES_MARKER =
  "<!-- notes: everything below this line is kept when `npm run bench` rewrites the file -->";

export function renderMarkdown(r: BenchResult, jsonPath: string, previous: string): string {
  const i = previous.indexOf(NOTES_MARKER);
  const notes = i >= 0 ? previous.slice(i + NOTES_MARKER.length).replace(/^\n+/, "") : "";
  return `# Benchmarks

<!-- Generated by \`npm run bench\` (bench/run.ts). Everything above the notes marker is rewritten. -->

How fast the mirror pulls compared with the registry itself and with the peer a user would pick instead
(CNCF distribution in proxy mode), how much upstream quota it spends, and how much memory it needs.
Last run: ${r.startedAt.slice(0, 10)}; raw figures in [${jsonPath.split("/").pop()}](${jsonPath}).
All of it runs on one machine over loopback, so the ratios say what the mirror's own work costs, not
what the edge network would save.

![Pull time as a ratio to a direct pull](benchmarks.svg)

${renderFigures(r)}

${renderFreePlan(r.freePlan)}
${renderConcurrentFills(
  r.memory?.concurrent,
  r.memory?.runs.find((run) => (run.clients ?? 1) > 1),
)}
## Machine

${machineTable(r)}

## How to reproduce

\`\`\`sh
bash scripts/e2e-setup.sh   # once, as root: docker-registry, skopeo, curl, …
npm install
npm run bench               # writes bench/results/latest.json, docs/BENCHMARKS.md, docs/benchmarks.svg
npm run bench -- --quick    # one repetition of everything, for development
BENCH_PHASES=free npm run bench   # only the Workers Free plan profile (a few minutes)
\`\`\`

A full run took ${Math.round(r.durationSeconds / 60)} minutes on the machine below (the watchdog stops a run
after \`BENCH_MAX_MINUTES\`, default 30); the first run on a machine also builds and pushes the images
(~4.5 GiB, a minute or two).

\`wrangler dev\` watches \`src/\` and reloads (cutting open responses) when it changes; to keep editing
while it runs, run it from a copy:
\`rsync -a --delete --exclude node_modules --exclude .wrangler --exclude .e2e-work ./ /tmp/bench-copy/ &&
ln -sfn "$PWD/node_modules" /tmp/bench-copy/node_modules && (cd /tmp/bench-copy && BENCH_OUT="$OLDPWD" npm run bench)\`.
Settings: \`BENCH_REPS\` (default 3; 1 with \`--quick\`), \`BENCH_WARM\` (direct and warm pulls per repetition,
default 2; 1 with \`--quick\`), \`BENCH_MEM_REPS\` (single-client 1 GiB runs, default 1), \`BENCH_MEM_CLIENTS\` (clients of
the cold 1 GiB fan-out, default 20), \`BENCH_PHASES=pulls,counts,free,memory,cpuprofile\` (default: all).
\`node bench/report.ts <json>\` re-renders this file and the chart from a result.

## Method

- **Upstream**: \`docker-registry\` (distribution 2.8) with token auth (ES256 token server, anonymous pull),
  behind a Node counting proxy that every path goes through — direct pulls too — so all pay for it alike.
  Images are deterministic (AES-CTR payload, incompressible, stored gzip for big layers), built once and
  kept under \`.e2e-work/bench/\`.
- **Direct**: skopeo straight from that upstream. **Mirror**: \`wrangler dev\` (local R2, KV and Durable
  Objects on disk) with a fresh \`--persist-to\` directory and a new process for every cold repetition.
  **Distribution proxy**: \`docker-registry\` with \`proxy: remoteurl:\` at the upstream, fresh storage per
  cold repetition.
- Each repetition: direct pulls, then a fresh mirror (time to first byte, cold pull, follow-on pull
  ${FOLLOW_ON_GAP_SECONDS} s after it, wait until stored, warm pulls, for each image) and a fresh distribution proxy (cold,
  follow-on, warm), alternating which cache goes first. Pulls go to a \`dir:\` destination on tmpfs,
  deleted after each pull. Medians over all repetitions.
- Upstream counts come from the counting proxy and the token server, reset before each scenario.
- Platform operations: the Worker's own counters (\`src/util/op-counters.ts\`, on with the var
  \`OP_COUNTERS = "on"\`, read at \`GET /_/ops\`); Worker and Durable Objects run in one isolate under
  \`wrangler dev\`, so one counter sees both. Isolate CPU and JS heap come through wrangler's inspector
  (V8 CPU profile, \`Runtime.getHeapUsage\`); profiling slows the mirror a little, so the pull times come
  from mirrors without it.
- **Reference Worker** (\`bench/reference-worker\`): a small Worker run under \`wrangler dev\` in the same run,
  so that a figure splits into what \`wrangler dev\` costs any Worker (its proxy hop through a second
  \`workerd\`, the local R2 and Cache API simulators, \`console.log\` through the inspector) and what the
  mirror's own code costs. For warm hits it holds blobs of the 20-layer image's sizes (deterministic bytes)
  in its R2 and serves them as the mirror's warm path does, without its policy: \`caches.default.match\`; on a
  miss the R2 object through a \`FixedLengthStream\` plus a background cache put of a second R2 read; one
  ~250-byte JSON log line per request. After one pass that warms its cache, mirror and reference get
  alternating rounds of the same sequential GETs (profiler off; the mirror still has \`OP_COUNTERS\` on and
  the inspector attached), and the CPU of each one's \`workerd\` processes gives "mirror minus reference" =
  the mirror's own CPU per warm hit. For pulls, every other request passes through it to the upstream
  (method, path, query and headers, the response streamed back as it is, no caching): the
  "pass-through Worker" column, ${r.settings.warmPerRep} pulls per image and repetition like direct.
- **Caching Worker** (the reference Worker with \`MODE = "cache"\`, fresh storage each repetition): a
  Worker that caches pulls with no policy, as the popular single-file registry proxies do. A blob comes
  from the Cache API, else R2 (and a background cache put), else the upstream tee'd natively into the
  response and an R2 put checked against its sha256; no coalescing, no verification of its own, manifests
  kept in the isolate's memory for ever. One cold pull per image, then (${FOLLOW_ON_GAP_SECONDS} s later)
  ${r.settings.warmPerRep} warm ones: what any caching Worker pays under \`wrangler dev\`, whatever its policy.
- Memory: VmRSS of the \`workerd\` process(es) in wrangler dev's process group, sampled every 20 ms while
  \`curl\` downloads the 1 GiB blob to /dev/null.

${NOTES_MARKER}

${notes || "## Notes\n\n(none yet)\n"}`;
}

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A horizontal bar chart of pull time ÷ direct, per image and path, with the goal lines. */
export function renderSvg(r: BenchResult): string {
  const bars: { group: string; label: string; value: number; color: string }[] = [];
  if (r.pulls) {
    for (const img of ["big", "many"] as const) {
      const info = r.settings.images[img];
      const group = `${info?.repo} (${mib(info?.bytes ?? 0)}, ${info?.blobs} blobs)`;
      for (const s of SYSTEMS) {
        if (s === "direct" || s === "viaProxy" || r.pulls.ratios[img][s] === undefined) continue;
        bars.push({ group, label: SYSTEM_LABEL(s), value: r.pulls.ratios[img][s], color: SYSTEM_INFO[s][1] });
      }
    }
  }
  const left = 170;
  const plotW = 520;
  const barH = 18;
  const gap = 6;
  const groupGap = 34;
  const top = 70;
  // Log scale: the goal lines (1.10, 1.25) stay apart even when a bar reaches 10×.
  const maxRatio = Math.max(1.5, ...bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)));
  const xMin = 0.5;
  const xMax = 2 ** Math.ceil(Math.log2(maxRatio * 1.05));
  const x = (v: number): number => {
    const c = Math.min(Math.max(v, xMin), xMax);
    return Number((left + (Math.log(c / xMin) / Math.log(xMax / xMin)) * plotW).toFixed(1));
  };
  const groups = [...new Set(bars.map((b) => b.group))];
  const perGroup = Math.max(1, ...groups.map((g) => bars.filter((b) => b.group === g).length));
  const height = top + groups.length * (perGroup * (barH + gap) + groupGap) + 30;
  const width = left + plotW + 70;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12" role="img">`,
    `<title>Pull time as a ratio to a direct pull: mirror and distribution proxy, cold, follow-on and warm</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">Pull time ÷ direct pull (median, log scale, lower is better)</text>`,
    `<text x="${left}" y="36" fill="#555555">${esc(`${r.startedAt.slice(0, 10)} · ${r.machine.nproc} CPU · skopeo to dir: over loopback · ${r.settings.reps} repetitions`)}</text>`,
  );
  const plotBottom = height - 30;
  // Grid and goal lines.
  for (let v = xMin; v <= xMax + 1e-9; v *= 2) {
    parts.push(
      `<line x1="${x(v)}" y1="${top - 6}" x2="${x(v)}" y2="${plotBottom}" stroke="#eeeeee"/>`,
      `<text x="${x(v)}" y="${plotBottom + 14}" text-anchor="middle" fill="#777777">${v}×</text>`,
    );
  }
  const goal = (v: number, label: string, color: string, labelY: number): void => {
    parts.push(
      `<line x1="${x(v)}" y1="${top - 6}" x2="${x(v)}" y2="${plotBottom}" stroke="${color}" stroke-dasharray="4 3"/>`,
      `<text x="${x(v) + 3}" y="${labelY}" fill="${color}" font-size="10">${esc(label)}</text>`,
    );
  };
  parts.push(`<line x1="${x(1)}" y1="${top - 6}" x2="${x(1)}" y2="${plotBottom}" stroke="#333333"/>`);
  goal(1.1, "follow-on and warm goal 1.10", "#2e7d32", top - 20);
  goal(1.25, "cold goal 1.25", "#c62828", top - 8);
  let y = top;
  for (const g of groups) {
    parts.push(`<text x="8" y="${y + 12}" font-weight="bold">${esc(g)}</text>`);
    y += 20;
    for (const b of bars.filter((bb) => bb.group === g)) {
      const w = Math.max(1, x(Number.isFinite(b.value) ? b.value : xMin) - left);
      parts.push(
        `<text x="${left - 6}" y="${y + barH - 5}" text-anchor="end">${esc(b.label)}</text>`,
        `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${b.color}"/>`,
        `<text x="${left + w + 4}" y="${y + barH - 5}">${Number.isFinite(b.value) ? `${b.value.toFixed(2)}×` : "–"}</text>`,
      );
      y += barH + gap;
    }
    y += groupGap - 20;
  }
  parts.push("</svg>", "");
  return parts.join("\n");
}

/** What the console shows at the end of a run. */
export function renderText(r: BenchResult): string {
  return `${renderFigures(r)}\n\n${machineTable(r)}\n`;
}
