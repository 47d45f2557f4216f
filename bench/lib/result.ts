// The benchmark's result shape (bench/results/*.json): what bench/run.ts writes and the reports read.
import type { ScenarioCounts } from "./counts.ts";
import type { summarize } from "./cpu-profile.ts";
import type { FreePlanScenario } from "./free-plan-phase.ts";
import type { HeapWindow } from "./heap.ts";
import type { Stats } from "./measure.ts";
import type { ProbeResult } from "./probe.ts";
import type { ProfileEntry, ProfileSummary } from "./profile.ts";
import type { RssWindow } from "./rss.ts";

/** The pull paths compared, in the tables' and chart's order: label and chart colour. */
export const SYSTEM_INFO = {
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
  cachingFollow: ["caching Worker follow-on", "#72b272"],
  cachingWarm: ["caching Worker warm", "#8cc68c"],
  auditedCold: ["caching Worker + audit line cold", "#8a5aa8"],
  auditedFollow: ["caching Worker + audit line follow-on", "#a37bc0"],
  auditedWarm: ["caching Worker + audit line warm", "#c2a5d8"],
  coordinatedCold: ["caching Worker + audit line + fill object cold", "#a5475a"],
  coordinatedFollow: ["caching Worker + audit line + fill object follow-on", "#c0687a"],
  coordinatedWarm: ["caching Worker + audit line + fill object warm", "#d898a6"],
} as const;
export type System = keyof typeof SYSTEM_INFO;
export const SYSTEMS = Object.keys(SYSTEM_INFO) as System[];
export type PullImage = "big" | "many";

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

/** The reference Worker's cold fill of the same 1 GiB blob: tee'd natively to the client and R2. */
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

export type Timing = { firstByte: Stats; headers: Stats; total: Stats; bytes: number };
export type Scenario = ScenarioCounts & {
  secondsAfterCold?: number;
  pulls?: number;
  failed?: number;
  failures?: string[];
  wallSeconds?: number;
  pullSeconds?: Stats;
};

type Tool = "node" | "wrangler" | "workerd" | "skopeo" | "distribution" | "curl";
type CacheScenarios = Partial<Record<"cold" | "follow" | "warm" | "expired" | "concurrent", Scenario>>;

export interface BenchResult {
  schema: 1 | 2;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  /** Versions of the tools and the commit, and the machine's size. */
  machine: Record<Tool | "cpu" | "kernel" | "os" | "commit", string> & {
    nproc: number;
    memoryMiB: number;
    /** 1-minute load average at the start and end: other work on the machine skews the figures. */
    loadAverage?: { start: number; end: number };
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
  ttfb?: {
    blobBytes: number;
    direct: Timing;
    mirror: Timing;
    dist: Timing;
    passThrough?: Timing;
    /** The image's config, the first blob each fresh process served (before the timed layer). */
    mirrorFirst?: Timing;
    distFirst?: Timing;
    /** The caching Worker that fills each cold blob in a Durable Object per digest (coordinated). */
    coordinated?: Timing;
  };
  upstream?: { mirror: CacheScenarios; dist: CacheScenarios; direct?: { pull: ScenarioCounts } };
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

/** RSS growth over a window: peak minus the value just before the request. */
export function growth(w: RssWindow): number {
  return w.peakBytes - w.baselineBytes;
}
