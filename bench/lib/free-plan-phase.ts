// The Workers Free plan profile (PLAN = "free"): per scenario and per kind of invocation, the isolate's
// own JS CPU and the subrequests made, against 10 ms and 50 per invocation (see invocations.ts).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { sleep } from "../../test/e2e/harness/net.ts";
import { blobsOf } from "./catalog.ts";
import type { BenchContext, ProbedMirror } from "./context.ts";
import type { CpuProfile } from "./cpu-profile.ts";
import { cpuByKind, FREE_PLAN, type InvocationRow, invocationRows, perInvocation } from "./invocations.ts";
import { timedPull, waitForHits } from "./measure.ts";
import { Probe } from "./probe.ts";
import { cpuSecondsOfAll, groupMembers } from "./rss.ts";

export interface FreePlanScenario {
  image: string;
  scenario: "cold (until stored)" | "warm";
  seconds: number;
  rows: InvocationRow[];
  /** CPU of samples with no frame of the mirror (simulators, runtime), left out of the rows, ms. */
  outsideMs: number;
  /**
   * The CPU (user + system) of every workerd process of `wrangler dev` in the same scenario on a second
   * mirror with the profiler off, per invocation of any kind (counted on the first), ms: simulated
   * bindings, the runtime and wrangler's own proxy included, so an upper bound of what an invocation's
   * isolate spent on average. Unlike the profile, it never counts time the thread waited.
   */
  workerdMsPerInvocation?: number;
}

/** The scenarios, in the order both passes pull them (each image cold, then warm on the same mirror). */
const SCENARIOS = [
  { key: "many", scenario: "cold (until stored)" },
  { key: "many", scenario: "warm" },
  { key: "big", scenario: "cold (until stored)" },
  { key: "big", scenario: "warm" },
] as const;

export async function freePlanPhase(
  ctx: BenchContext,
  locate: (url: string, line: number) => string,
): Promise<FreePlanScenario[]> {
  const pm = await ctx.probedMirror("free-plan", { PLAN: "free" });
  const probe = new Probe(pm.inspector, pm.mirror.url, pm.adminToken, ctx.counter);
  const out: FreePlanScenario[] = [];
  try {
    for (const { key, scenario } of SCENARIOS) {
      const img = ctx.images[key];
      await probe.begin();
      await pullScenario(ctx, pm, key, scenario);
      let profile: CpuProfile | undefined;
      const result = await probe.end((p) => {
        profile = p;
        // Kept in the run directory (open it in Chrome's DevTools).
        const name = `free-plan-${key}-${scenario.split(" ")[0]}.cpuprofile`;
        writeFileSync(join(ctx.runDir, name), JSON.stringify(p));
      });
      if (!profile) throw new Error("no CPU profile");
      const cpu = cpuByKind(profile, locate);
      const rows = invocationRows(cpu, result.ops);
      const row: FreePlanScenario = {
        image: img.repo,
        scenario,
        seconds: result.seconds,
        rows,
        outsideMs: cpu.outside,
      };
      out.push(row);
      await sleep(1000);
    }
  } finally {
    await ctx.stopMirror(pm);
  }
  // The same scenarios again on a fresh mirror with the profiler off (so its sampling is never in the
  // bound): workerd's whole CPU, over the invocations the profiled run counted.
  const quiet = await ctx.probedMirror("free-plan-cpu", { PLAN: "free" });
  try {
    const workerd = groupMembers(quiet.mirror.process.pid).filter((p) => p.comm.startsWith("workerd"));
    for (const [i, { key, scenario }] of SCENARIOS.entries()) {
      const row = out[i];
      if (!row) continue;
      const cpu0 = cpuSecondsOfAll(workerd);
      await pullScenario(ctx, quiet, key, scenario);
      const invocations = row.rows.reduce((n, r) => n + r.count, 0);
      const ms = (cpuSecondsOfAll(workerd) - cpu0) * 1000;
      row.workerdMsPerInvocation = invocations > 0 ? Math.round((ms / invocations) * 10) / 10 : 0;
      ctx.log(`  free plan, ${row.image} ${row.scenario}: ${describe(row)}`);
      await sleep(1000);
    }
  } finally {
    await ctx.stopMirror(quiet);
  }
  return out;
}

/** One pull of the scenario; a cold one lasts until every blob is stored. */
async function pullScenario(
  ctx: BenchContext,
  pm: ProbedMirror,
  key: "many" | "big",
  scenario: FreePlanScenario["scenario"],
): Promise<void> {
  const img = ctx.images[key];
  await timedPull(ctx.env, ctx.mirrorRef(pm.mirror, img), ctx.dest("free-plan"));
  if (scenario === "warm") return;
  await waitForHits(
    ctx.mirrorBlobUrl(pm.mirror, img),
    blobsOf(img).map((b) => b.digest),
    300_000,
  );
}

function describe(s: FreePlanScenario): string {
  const bound = ` | workerd, all of it: ${s.workerdMsPerInvocation} ms per invocation`;
  return s.rows
    .map((row) => {
      const per = perInvocation(row);
      return `${row.kind} ×${row.count}: ${per.cpuMs} ms JS (+ ${per.nativeMs} ms natives), ${per.subrequests} subrequests each${per.within ? "" : " (OVER)"}`;
    })
    .join("; ")
    .concat(bound);
}

/** The Markdown table of the phase (docs/BENCHMARKS.md). */
export function renderFreePlan(scenarios: readonly FreePlanScenario[] | undefined): string {
  if (!scenarios?.length) return "";
  const head = [
    "image",
    "scenario",
    "invocation",
    "invocations",
    `JS CPU per invocation (limit ${FREE_PLAN.cpuMs} ms)`,
    "natives it called (simulated bindings included)",
    `subrequests per invocation (limit ${FREE_PLAN.subrequests})`,
    "within",
    "workerd CPU per invocation of the scenario, all of it (an upper bound)",
  ];
  const rows = scenarios.flatMap((s) =>
    s.rows.map((row) => {
      const per = perInvocation(row);
      return [
        s.image,
        s.scenario,
        row.kind,
        String(row.count),
        `${per.cpuMs} ms`,
        `${per.nativeMs} ms`,
        String(per.subrequests),
        per.within ? "yes" : "**no**",
        s.workerdMsPerInvocation === undefined
          ? "–"
          : `${s.workerdMsPerInvocation} ms${s.workerdMsPerInvocation <= FREE_PLAN.cpuMs ? " (within)" : ""}`,
      ];
    }),
  );
  const left = scenarios.map((s) => `${s.image} ${s.scenario}: ${s.outsideMs} ms`).join("; ");
  return [
    "## The Workers Free plan profile",
    "",
    "A mirror with `PLAN = \"free\"`, one skopeo pull per scenario. Per kind of invocation (the mean per invocation): the isolate's own JS CPU from its V8 profile (samples in the mirror's JavaScript, charged by its frames on the stack), the natives that JavaScript called apart (under `wrangler dev` they include the simulated R2, KV and Cache API), and the subrequests the mirror counted (R2, KV, Durable Object and Cache API calls, upstream fetches). The profile samples wall time: on a loaded machine (see the load average below) it counts time the thread waited for a core too, and under `wrangler dev` it charges the time each `console.log` takes with the inspector attached (a message to wrangler's inspector proxy, which posts it to wrangler's Node process) to the function that wrote the line: in a profile of 210 warm hits, the audit middleware's function carried 7.07 ms per request with its line and 0.76 ms with the line switched off. A request or fill that writes one log line is charged ~6 ms here that the platform does not spend. The last column is the other bound: the CPU of every workerd process in the same scenario on a second mirror with the profiler off (the simulated bindings, the runtime and wrangler's proxy included) divided by all its invocations; where it is within the limit, every invocation on average is. Left out as the simulators', the runtime's and the counting Proxies' own: " +
      `${left}.`,
    "",
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
    "",
  ].join("\n");
}
