// Per kind of invocation (Worker request, fill object call, alarm), the isolate's own JS CPU from a V8
// profile and the subrequests the mirror counted (GET /_/ops), set against the Workers Free plan's
// 10 ms of CPU and 50 subrequests per invocation.
//
// A sample is charged by the mirror's own frames on its stack (the bundle marks each module, see
// moduleLocator): a frame of the Durable Objects' code makes it an object call's (an alarm's when it
// is under the alarm's upload), any other frame of the mirror a Worker request's. Samples with no frame
// of the mirror (wrangler's simulators of R2, KV and the objects, the runtime's own work) are left out:
// in production those run outside the isolate.
import type { CpuProfile } from "./cpu-profile.ts";
import type { OpCounts } from "./probe.ts";

export type Kind = "request" | "object" | "alarm";
export const KINDS: readonly Kind[] = ["request", "object", "alarm"];
export const FREE_PLAN = { cpuMs: 10, subrequests: 50 };

/** Modules that run only inside the Durable Objects. */
const OBJECT_MODULES = [
  /^src\/platform\/(blob-fill|blob-download|fill|manifest-misses|stats-object|stats\/)/,
  /^src\/storage\/(spool|store-through|piped-store|pending-upload|link-table|fill)/,
];
/** Frames of an alarm's work (the spool's upload). */
const ALARM_FRAME = /^(alarm|upload|resumeUpload|uploadParts?)\b/;

export interface InvocationRow {
  kind: Kind;
  /** Invocations of this kind in the window (each builds its services once). */
  count: number;
  cpuMs: number;
  subrequests: number;
}

/** The isolate's JS CPU per kind of invocation, and what was left out (no frame of the mirror), ms. */
export function cpuByKind(
  profile: CpuProfile,
  locate: (url: string, line: number) => string,
): Record<Kind | "outside", number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const kindOf = new Map<number, Kind | "outside" | "idle">();
  const classify = (id: number): Kind | "outside" | "idle" => {
    const known = kindOf.get(id);
    if (known) return known;
    if (byId.get(id)?.callFrame.functionName === "(idle)") return "idle";
    // From the sampled frame to the root: the objects' code outranks the Worker's, an alarm's both.
    let kind: Kind | "outside" = "outside";
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)?.callFrame;
      if (!cf?.url?.endsWith(".js")) continue;
      const module = locate(cf.url, cf.lineNumber);
      if (!module.startsWith("src/")) continue;
      if (!OBJECT_MODULES.some((m) => m.test(module))) {
        if (kind === "outside") kind = "request";
      } else if (ALARM_FRAME.test(cf.functionName)) {
        kind = "alarm";
        break;
      } else kind = "object";
    }
    kindOf.set(id, kind);
    return kind;
  };
  const us: Record<Kind | "outside", number> = { request: 0, object: 0, alarm: 0, outside: 0 };
  profile.samples.forEach((id, i) => {
    const kind = classify(id);
    if (kind !== "idle") us[kind] += profile.timeDeltas[i] ?? 0;
  });
  const ms = (x: number) => Math.round(x / 100) / 10;
  return { request: ms(us.request), object: ms(us.object), alarm: ms(us.alarm), outside: ms(us.outside) };
}

/** One row per kind that ran: its invocations, CPU and subrequests (totals over the window). */
export function invocationRows(cpu: Record<Kind, number>, ops: OpCounts): InvocationRow[] {
  return KINDS.map((kind) => ({
    kind,
    count: ops.invocations?.[kind]?.count ?? 0,
    cpuMs: cpu[kind],
    subrequests: ops.invocations?.[kind]?.subrequests ?? 0,
  })).filter((row) => row.count > 0 || row.cpuMs > 0);
}

/** Per invocation (mean over the window), and whether that is within the Free plan's limits. */
export function perInvocation(row: InvocationRow): { cpuMs: number; subrequests: number; within: boolean } {
  const n = Math.max(row.count, 1);
  const cpuMs = Math.round((row.cpuMs / n) * 10) / 10;
  const subrequests = Math.round((row.subrequests / n) * 10) / 10;
  return { cpuMs, subrequests, within: cpuMs <= FREE_PLAN.cpuMs && subrequests <= FREE_PLAN.subrequests };
}
