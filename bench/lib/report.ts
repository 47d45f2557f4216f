// The benchmark's Markdown: docs/BENCHMARKS.md and the text printed at the end of a run. The prose is in
// report.md, the goals in goals.ts, the chart in chart.ts.

import { fx, GiB, imageLabel, listed, MiB, mib, prose, ratio, stat, table } from "./format.ts";
import { renderFreePlan } from "./free-plan-phase.ts";
import { gets, kvWriteKinds, upstreamTotal } from "./goals.ts";
import type { HeapWindow } from "./heap.ts";
import {
  type BenchResult,
  FOLLOW_ON_GAP_SECONDS as gap,
  growth,
  type PlatformScenario,
  type Scenario,
  SYSTEM_INFO,
  SYSTEMS,
  type Timing,
} from "./result.ts";

/** Every path but the counting proxy's, whose CPU is the upstream's. */
const CPU_SYSTEMS = SYSTEMS.filter((s) => s !== "viaProxy");

const PLATFORM_LABEL: Record<PlatformScenario, string> = {
  cold: `cold pull (+ ${gap} s)`,
  follow: "follow-on pull",
  stored: "until stored (HEAD polls)",
  warm: "warm pull",
  hot: "warm pull, colo cache hot",
  expired: "after TTL expiry",
  concurrent: "concurrent cold pulls",
};

/** Peaks of ArrayBuffer backing stores and embedder memory, when V8 reports them. */
function heapBacking(h: HeapWindow | undefined): string {
  if (h?.backingStoragePeakBytes === undefined) return "–";
  const embedder =
    h.embedderPeakBytes !== undefined ? ` (embedder ${fx(h.embedderPeakBytes / MiB, 1)} MiB)` : "";
  return `${mib(h.backingStoragePeakBytes)}${embedder}`;
}

function renderGoals(r: BenchResult): string[] {
  if (r.goals.length === 0) return [];
  const head =
    "goal | target | mirror | distribution proxy (peer) | a Worker that only forwards (same run) | a Worker that caches with no policy (same run) | mirror meets it";
  const met = (m: boolean | null): string => (m === null ? "–" : m ? "yes" : "**no**");
  const dash = (s: string | undefined): string => s ?? "–";
  return [
    "## Goals\n",
    table(
      head,
      r.goals.map((g) => [
        g.goal,
        g.target,
        g.mirror,
        ...[g.dist, g.passThrough, g.caching].map(dash),
        met(g.met),
      ]),
    ),
  ];
}

function renderPulls(r: BenchResult): string[] {
  const p = r.pulls;
  if (!p) return [];
  const images = ["big", "many"] as const;
  const n = (s: "direct" | "mirrorCold" | "mirrorWarm"): number => p.seconds.big[s].n;
  const cpu = (key: string) => stat(p.serverCpuSeconds?.[key]);
  return [
    prose("pulls", { direct: n("direct"), cold: n("mirrorCold"), warm: n("mirrorWarm") }),
    table(
      ["image", ...SYSTEMS.map((s) => SYSTEM_INFO[s][0])].join(" | "),
      images.flatMap((img) => [
        [imageLabel(r.settings.images[img]), ...SYSTEMS.map((s) => stat(p.seconds[img][s]))],
        ["… ratio to direct", ...SYSTEMS.map((s) => ratio(p.ratios[img][s]))],
      ]),
    ),
    prose("pulls-cpu"),
    table(
      "image | direct (registry) | pass-through Worker (workerd) | mirror cold (workerd) | mirror follow-on | mirror warm | distribution cold | distribution follow-on | distribution warm | caching Worker cold (workerd) | caching Worker warm",
      [
        ...images.map((img) => [
          r.settings.images[img]?.repo ?? img,
          ...CPU_SYSTEMS.map((s) => cpu(`${img}-${s}`)),
        ]),
        // The time-to-first-byte blob has a cold mirror and a cold distribution figure only.
        [
          `bench/ttfb blob (${mib(r.ttfb?.blobBytes ?? 0)}), cold`,
          ...CPU_SYSTEMS.map((s) => (s === "mirrorCold" || s === "distCold" ? cpu(`ttfb-${s}`) : "–")),
        ],
      ],
    ),
    prose("pulls-settle", {
      gap,
      big: stat(p.mirrorSettleSeconds.big),
      many: stat(p.mirrorSettleSeconds.many),
    }),
  ];
}

function renderTtfb(r: BenchResult): string[] {
  const t = r.ttfb;
  if (!t) return [];
  const row = (name: string, x: Timing): string[] => [
    name,
    stat(x.headers, 3),
    stat(x.firstByte, 3),
    stat(x.total, 2),
    ratio(x.firstByte.median / t.direct.firstByte.median),
  ];
  return [
    prose("ttfb", { blob: mib(t.blobBytes) }),
    table("path | response headers | first body byte | whole blob | first byte vs direct", [
      row("direct (upstream)", t.direct),
      row("mirror, cold", t.mirror),
      row("distribution proxy, cold", t.dist),
      ...(t.mirrorFirst ? [row("mirror, cold: its first blob (the config)", t.mirrorFirst)] : []),
      ...(t.distFirst ? [row("distribution proxy, cold: its first blob (the config)", t.distFirst)] : []),
      ...(t.passThrough ? [row("a Worker that only forwards", t.passThrough)] : []),
      ...(t.coordinated
        ? [row("caching Worker through a fill object per digest (coordinated), cold", t.coordinated)]
        : []),
    ]),
  ];
}

function renderUpstream(r: BenchResult): string[] {
  const u = r.upstream;
  if (!u) return [];
  const { concurrency, shortTagTtlSeconds: ttl } = r.settings;
  const row = (who: string, what: string, c: Scenario | undefined): string[][] => {
    if (!c) return [];
    const k = c.byKind;
    const counts = [k.token, k["manifest-head"], k["manifest-get"], k["blob-head"], k["blob-get"]];
    return [
      [who, what, ...[...counts, c.maxGetsPerBlob, k.ping + k.other + k.tags].map(String)].concat(
        c.failed === undefined ? "" : `${c.failed}/${c.pulls} failed, ${fx(c.wallSeconds)} s wall`,
      ),
    ];
  };
  const caches = [["mirror", u.mirror] as const, ["distribution", u.dist] as const].flatMap(([who, s]) => [
    ...row(who, "cold pull", s.cold),
    ...row(who, "warm pull inside TTL", s.warm),
    ...row(who, "pull after TTL expiry", s.expired),
    ...row(who, `${concurrency} concurrent cold pulls (${r.settings.images.fanout?.repo})`, s.concurrent),
  ]);
  return [
    prose("upstream", { ttl, after: ttl + 3 }),
    table(
      "who | scenario | token | manifest HEAD | manifest GET | blob HEAD | blob GET | max GETs per blob | ping/other | ",
      [...row("client alone", "one pull, no cache", u.direct?.pull), ...caches],
    ),
  ];
}

/** The per-scenario table: the mirror's platform operations, upstream requests, isolate CPU, heap. */
function renderPlatform(r: BenchResult): string[] {
  const p = r.platform;
  if (!p) return [];
  const ttl = r.settings.shortTagTtlSeconds;
  const { concurrency } = r.settings;
  const out = [
    prose("platform", { gap, ttl, after: ttl + 3, concurrency, fanout: `${r.settings.images.fanout?.repo}` }),
    table(
      "image | scenario | seconds | KV reads | KV writes | R2 class A | R2 class B | cache reads (hits) | cache puts | DO requests | DO rows written | upstream requests (GETs) | isolate CPU ms | JS heap peak / backing stores peak | KV writes by key",
      p.rows.map(({ ops, ...x }) => [
        x.image,
        `${PLATFORM_LABEL[x.scenario]}${x.pulls > 1 ? ` ×${x.pulls}` : ""}`,
        fx(x.seconds),
        ...[ops.kvReads, ops.kvWrites, ops.r2ClassA, ops.r2ClassB].map(String),
        ops.cacheReads === undefined ? "–" : `${ops.cacheReads} (${ops.cacheHits ?? 0})`,
        ops.cachePuts === undefined ? "–" : String(ops.cachePuts),
        ...[ops.doRequests, ops.doRowsWritten].map(String),
        `${upstreamTotal(x.upstream)} (${gets(x.upstream.byKind)})`,
        x.cpuBusyMs.toFixed(0),
        `${mib(x.heap.usedPeakBytes)} / ${x.heap.backingStoragePeakBytes !== undefined ? mib(x.heap.backingStoragePeakBytes) : "–"}`,
        listed(kvWriteKinds(ops)),
      ]),
    ),
  ];
  const h = p.warmHit;
  if (h)
    out.push(
      prose("warm-hit", { requests: h.requests, cpu: fx(h.cpuBusyMs, 1), per: fx(h.perRequestMs) }) +
        (h.workerdCpuMsPerRequest !== undefined
          ? prose("warm-hit-workerd", { ms: fx(h.workerdCpuMsPerRequest) })
          : ".") +
        (h.ownCpuMsPerRequest !== undefined
          ? prose("warm-hit-rounds", {
              rounds: `${h.interleavedRounds}`,
              requests: h.requests,
              mirror: fx(h.mirrorWorkerdCpuMsPerRequest),
              reference: fx(h.referenceWorkerdCpuMsPerRequest),
              own: fx(h.ownCpuMsPerRequest),
              mirrorWall: fx(h.mirrorWallMsPerRequest),
              referenceWall: fx(h.referenceWallMsPerRequest),
            })
          : ""),
    );
  return out;
}

function renderMemory(r: BenchResult): string[] {
  const m = r.memory;
  if (!m) return [];
  const bold = (s: string): string => `**${s}**`;
  const out = [
    prose("memory", { blob: mib(m.blobBytes) }),
    table(
      "run | clients | seconds | first byte (s) | workerd CPU s | workerd RSS before | peak | growth | of which anonymous | of which file-backed | VmHWM after | wrangler+workerd growth | until stored (s) | workerd CPU s until stored | growth until stored | RSS after idle | JS heap peak (streaming) | JS heap peak until stored | backing stores peak (embedder) | isolate CPU until stored",
      m.runs.map(({ workerd: w, untilStored: u, ...x }) => [
        `${x.rep} ${x.phase}${x.variant ? ` (${x.variant})` : ""}`,
        String(x.clients ?? 1),
        fx(x.totalSeconds),
        fx(x.firstByteSeconds, 3),
        fx(x.workerdCpuSeconds),
        mib(w.baselineBytes),
        mib(w.peakBytes),
        bold(mib(growth(w))),
        mib((w.anonPeakBytes ?? 0) - (w.anonBaselineBytes ?? 0)),
        mib((w.filePeakBytes ?? 0) - (w.fileBaselineBytes ?? 0)),
        mib(w.hwmAfterBytes),
        mib(growth(x.allProcesses)),
        ...(u ? [fx(u.seconds), fx(u.workerdCpuSeconds), bold(mib(growth(u.workerd)))] : ["–", "–", "–"]),
        u?.rssAfterIdleBytes ? mib(u.rssAfterIdleBytes) : "–",
        x.heap ? mib(x.heap.usedPeakBytes) : "–",
        u?.heap ? bold(mib(u.heap.usedPeakBytes)) : "–",
        heapBacking(u?.heap ?? x.heap),
        u?.isolateBusyMs !== undefined
          ? `${fx(u.isolateBusyMs / 1000)} s (${fx(u.isolateBusyMs / 1000 / (x.bytes / GiB))} s/GiB)`
          : "–",
      ]),
    ),
  ];
  const f = m.referenceFill;
  if (f)
    out.push(
      prose("reference-fill", {
        seconds: fx(f.seconds),
        cpu: fx(f.workerdCpuSeconds),
        stored: fx(f.untilStoredSeconds),
        cpuStored: fx(f.workerdCpuUntilStoredSeconds),
        perGiB: fx(f.workerdCpuUntilStoredSeconds / (f.bytes / GiB)),
      }),
    );
  return out;
}

function renderCpuProfile(r: BenchResult): string[] {
  if (!r.cpuProfile) return [];
  const out = [prose("cpu-profile")];
  const top = (head: string, fns: { fn: string; ms: number; share: number }[]): string =>
    table(
      `${head} | ms | share of busy`,
      fns.slice(0, 12).map((f) => [`\`${f.fn}\``, String(f.ms), `${f.share}%`]),
    );
  for (const phase of ["cold", "warm"] as const) {
    const p = r.cpuProfile[phase];
    if (!p) continue;
    const procs = p.processCpuSeconds.map((x) => `${x.comm} ${x.pid}: ${x.seconds} s`).join(", ");
    const { busyMs, wallMs, functions, callers } = p.profile;
    out.push(
      `\n**${phase}**: ${fx(p.seconds)} s; isolate busy ${busyMs} ms of ${wallMs} ms; process CPU ${procs}.\n`,
      top("function (self time)", functions),
    );
    if (callers)
      out.push(
        prose("cpu-profile-callers"),
        top("JavaScript function (with the natives it called)", callers),
      );
  }
  return out;
}

/** Heap and held bytes of the 20-client fan-out of the 1 GiB blob and of the concurrent fills. */
function renderConcurrentFills(r: BenchResult): string {
  const concurrent = r.memory?.concurrent;
  const fanout = r.memory?.runs.find((run) => (run.clients ?? 1) > 1);
  if (!concurrent && !fanout) return "";
  const held = (h: Record<string, number> | undefined) => (h ? listed(h, mib) : "not reported");
  const rows: string[][] = [];
  if (fanout?.heap) {
    const { clients, bytes, heap } = fanout;
    const blob = `${clients} clients, one cold ${mib(bytes)} blob`;
    rows.push([blob, mib(heap.usedPeakBytes), mib(heap.totalPeakBytes), held(fanout.held)]);
  }
  if (concurrent) {
    const { blobs, blobBytes, seconds, heap, heapUntilStored: stored } = concurrent;
    rows.push([
      `${blobs} cold ${mib(blobBytes)} blobs at once (until stored, ${fx(seconds)} s)`,
      mib(Math.max(heap.usedPeakBytes, stored.usedPeakBytes)),
      mib(Math.max(heap.totalPeakBytes, stored.totalPeakBytes)),
      held(concurrent.held),
    ]);
  }
  const head = "scenario | JS heap peak | heap + ArrayBuffers peak | held by the fills (peak)";
  return prose("concurrent-fills", { table: table(head, rows) });
}

/** The figures as Markdown sections (shared by the document and the console output). */
export function renderFigures(r: BenchResult): string {
  return [
    renderGoals,
    renderPulls,
    renderTtfb,
    renderUpstream,
    renderPlatform,
    renderMemory,
    renderCpuProfile,
  ]
    .flatMap((section) => section(r))
    .join("\n");
}

function machineTable(r: BenchResult): string {
  const { machine: m, settings: s } = r;
  const load = m.loadAverage;
  return table(" | ", [
    ["date", `${r.startedAt} (run took ${r.durationSeconds} s)`],
    ["CPU", `${m.nproc} × ${m.cpu}`],
    ["memory", `${m.memoryMiB} MiB`],
    ["load average (1 min)", load ? `${load.start.toFixed(2)} at start, ${load.end.toFixed(2)} at end` : "–"],
    ["OS", `${m.os}, Linux ${m.kernel}`],
    ["Node", m.node],
    ["wrangler / workerd", `${m.wrangler} / ${m.workerd}`],
    ["skopeo", m.skopeo],
    ["distribution", m.distribution],
    ["commit", `${m.commit}${m.dirty ? " (with uncommitted changes in src/)" : ""}`],
    [
      "repetitions",
      `${s.reps}, each with ${s.warmPerRep} direct, ${r.pulls?.seconds.big.passThrough ? `${s.warmPerRep} pass-through Worker, ` : ""}1 cold and ${s.warmPerRep} warm pulls per image and path; ${s.memoryReps} for the 1 GiB blob`,
    ],
  ]);
}

const NOTES_MARKER =
  "<!-- notes: everything below this line is kept when `npm run bench` rewrites the file -->";

/** docs/BENCHMARKS.md: the figures, the machine and the method, then the notes kept from `previous`. */
export function renderMarkdown(r: BenchResult, jsonPath: string, previous: string): string {
  const i = previous.indexOf(NOTES_MARKER);
  const notes = i >= 0 ? previous.slice(i + NOTES_MARKER.length).replace(/^\n+/, "") : "";
  return prose("document", {
    date: r.startedAt.slice(0, 10),
    jsonName: `${jsonPath.split("/").pop()}`,
    jsonPath,
    figures: renderFigures(r),
    freePlan: renderFreePlan(r.freePlan),
    concurrentFills: renderConcurrentFills(r),
    machine: machineTable(r),
    minutes: Math.round(r.durationSeconds / 60),
    gap,
    warmPerRep: r.settings.warmPerRep,
    notesMarker: NOTES_MARKER,
    notes: notes || "## Notes\n\n(none yet)\n",
  });
}

/** What the console shows at the end of a run. */
export function renderText(r: BenchResult): string {
  return `${renderFigures(r)}\n\n${machineTable(r)}\n`;
}
