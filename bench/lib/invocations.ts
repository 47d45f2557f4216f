// Per kind of invocation (Worker request, fill object call, alarm), the isolate's own JS CPU from a V8
// profile and the subrequests the mirror counted (GET /_/ops), set against the Workers Free plan's
// 10 ms of CPU and 50 subrequests per invocation.
//
// A sample counts when the code it was in (its nearest frame with a script; natives count for their
// caller) is the mirror's bundle (hono and zod included): samples in the simulators' modules wrangler
// loads into the isolate, the runtime's own work and the benchmark's counting Proxies are left out, as
// in production they are not the isolate's. It is charged by the mirror's frames on its stack (the bundle marks each module, see
// moduleLocator): a frame of the Durable Objects' code makes it an object call's (an alarm's when it
// is under the alarm's upload), else a Worker request's. Under load the profile also counts time the
// thread waited for a core (it samples wall time), so compare runs on a quiet machine only.
import type { CpuProfile } from "./cpu-profile.ts";
import type { OpCounts } from "./probe.ts";

export type Kind = "request" | "object" | "alarm";
export const KINDS: readonly Kind[] = ["request", "object", "alarm"];
export const FREE_PLAN = { cpuMs: 10, subrequests: 50 };

/** Modules that run only inside the Durable Objects. */
const OBJECT_MODULES = [
  /^src\/platform\/(blob-fill|fill-|through-catch-up|objects|manifest-misses|stats-object|stats\/)/,
  /^src\/storage\/(spool|store-through|piped-|pending-upload|link-table|fill|memory-fill|sqlite-fill|through-fill)/,
];
/** Frames of an alarm's work (the spool's upload). */
const ALARM_FRAME = /^(alarm|uploadStep)\b/;

export interface InvocationRow {
  kind: Kind;
  /** Invocations of this kind in the window (each builds its services once). */
  count: number;
  /** The mirror's JavaScript, and the natives it called (simulated bindings included), ms in all. */
  cpuMs: number;
  nativeMs: number;
  subrequests: number;
}

/** CPU per kind of invocation, ms: its JavaScript, and the natives its JavaScript called. */
export type KindCpu = Record<Kind, { js: number; natives: number }> & { outside: number };

/**
 * The isolate's CPU per kind of invocation: samples in the mirror's JavaScript, and samples in natives
 * it called (its hashing, but under `wrangler dev` also the simulated bindings' work, which is why they
 * are apart); what was left out (the simulators' and the runtime's own code), ms.
 */
export function cpuByKind(profile: CpuProfile, locate: (url: string, line: number) => string): KindCpu {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  type Charge = { kind: Kind; native: boolean } | "outside" | "idle";
  const memo = new Map<number, Charge>();
  const classify = (id: number): Charge => {
    if (byId.get(id)?.callFrame.functionName === "(idle)") return "idle";
    // Whose code runs: the nearest frame with a script (natives count for their caller); not the
    // mirror's bundle (the simulators' modules wrangler loads into the isolate, the runtime's): left out.
    let own = id as number | undefined;
    while (own !== undefined && !byId.get(own)?.callFrame.url) own = parent.get(own);
    const script = own === undefined ? undefined : byId.get(own)?.callFrame;
    const scriptModule = script ? locate(script.url, script.lineNumber) : "";
    // The counting Proxies exist only with OP_COUNTERS (the benchmark's instrumentation): left out too.
    if (!scriptModule || scriptModule.startsWith("src/util/op-counters")) return "outside";
    // From there to the root: the objects' code outranks the Worker's, an alarm's both.
    let kind: Kind = "request";
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)?.callFrame;
      if (!cf?.url) continue;
      const module = locate(cf.url, cf.lineNumber);
      if (!OBJECT_MODULES.some((m) => m.test(module))) continue;
      if (ALARM_FRAME.test(cf.functionName)) {
        kind = "alarm";
        break;
      }
      kind = "object";
    }
    return { kind, native: own !== id };
  };
  const us: Record<Kind, [number, number]> & { outside: number } = {
    request: [0, 0],
    object: [0, 0],
    alarm: [0, 0],
    outside: 0,
  };
  profile.samples.forEach((id, i) => {
    let charge = memo.get(id);
    if (!charge) {
      charge = classify(id);
      memo.set(id, charge);
    }
    const delta = profile.timeDeltas[i] ?? 0;
    if (charge === "outside") us.outside += delta;
    else if (charge !== "idle") us[charge.kind][charge.native ? 1 : 0] += delta;
  });
  const ms = (x: number) => Math.round(x / 100) / 10;
  const of = (k: Kind) => ({ js: ms(us[k][0]), natives: ms(us[k][1]) });
  return { request: of("request"), object: of("object"), alarm: of("alarm"), outside: ms(us.outside) };
}

/** One row per kind that ran: its invocations, CPU and subrequests (totals over the window). */
export function invocationRows(cpu: KindCpu, ops: OpCounts): InvocationRow[] {
  return KINDS.map((kind) => ({
    kind,
    count: ops.invocations?.[kind]?.count ?? 0,
    cpuMs: cpu[kind].js,
    nativeMs: cpu[kind].natives,
    subrequests: ops.invocations?.[kind]?.subrequests ?? 0,
  })).filter((row) => row.count > 0 || row.cpuMs > 0);
}

/** Per invocation (mean over the window), and whether that is within the Free plan's limits. */
export function perInvocation(row: InvocationRow): {
  cpuMs: number;
  nativeMs: number;
  subrequests: number;
  within: boolean;
} {
  const mean = (x: number) => Math.round((x / Math.max(row.count, 1)) * 10) / 10;
  const [cpuMs, nativeMs, subrequests] = [mean(row.cpuMs), mean(row.nativeMs), mean(row.subrequests)];
  return {
    cpuMs,
    nativeMs,
    subrequests,
    within: cpuMs <= FREE_PLAN.cpuMs && subrequests <= FREE_PLAN.subrequests,
  };
}
