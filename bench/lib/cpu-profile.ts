// A V8 CPU profile of the Worker under `wrangler dev`, taken through wrangler's inspector proxy
// (Chrome DevTools protocol over WebSocket), summarised as self time per function.
import { readFileSync } from "node:fs";
import type { Inspector } from "./inspector.ts";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSession {
  stop(): Promise<CpuProfile>;
}

/** Starts sampling the isolate every `intervalUs` on an open inspector session. */
export async function startCpuProfile(inspector: Inspector, intervalUs = 200): Promise<ProfileSession> {
  await inspector.call("Profiler.enable");
  await inspector.call("Profiler.setSamplingInterval", { interval: intervalUs });
  await inspector.call("Profiler.start");
  return {
    async stop() {
      const result = (await inspector.call("Profiler.stop")) as { profile: CpuProfile };
      return result.profile;
    },
  };
}

/** Milliseconds of non-idle samples: the isolate's CPU time (Worker and Durable Objects share it). */
export function busyMs(profile: CpuProfile): number {
  const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id));
  let us = 0;
  profile.samples.forEach((id, i) => {
    if (!idle.has(id)) us += profile.timeDeltas[i] ?? 0;
  });
  return Math.round(us / 100) / 10;
}

export interface SelfTime {
  fn: string;
  ms: number;
  share: number;
}

/**
 * For bundled code, the module a line belongs to: esbuild marks each module with a `// src/…` comment.
 * Reads the bundle (wrangler deletes it on exit, so call this while the mirror runs).
 */
export function moduleLocator(resolveUrl: (url: string) => string): (url: string, line: number) => string {
  const cache = new Map<string, string[]>();
  return (url, line) => {
    let lines = cache.get(url);
    if (!lines) {
      try {
        lines = readFileSync(resolveUrl(url), "utf8").split("\n");
      } catch {
        lines = [];
      }
      cache.set(url, lines);
    }
    for (let i = Math.min(line, lines.length - 1); i >= 0; i--) {
      const m = /^\/\/ ((?:src|node_modules)\/\S+)$/.exec(lines[i] ?? "");
      if (m) return m[1] ?? "";
    }
    return "";
  };
}

/** Self time per function (and per source file), largest first; "(idle)" is reported apart. */
export function summarize(
  profile: CpuProfile,
  locate: (url: string, line: number) => string = () => "",
  top = 25,
): {
  wallMs: number;
  idleMs: number;
  busyMs: number;
  functions: SelfTime[];
  /** Self time plus the native functions it called, per JavaScript function of the bundle. */
  callers: SelfTime[];
  files: SelfTime[];
} {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Native leaves (read, write, exec, setTimeout, …) charged to the nearest JavaScript caller with a source.
  const caller = new Map<string, number>();
  const jsCaller = (id: number): string | undefined => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)?.callFrame;
      if (cf?.url?.endsWith(".js")) {
        const module = locate(cf.url, cf.lineNumber) || cf.url;
        return `${cf.functionName || "(anonymous)"} ${module}`;
      }
    }
    return undefined;
  };
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let idle = 0;
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const cf = byId.get(id)?.callFrame;
    const name = cf?.functionName || "(anonymous)";
    if (name === "(idle)") {
      idle += us;
      return;
    }
    busy += us;
    const module = cf?.url?.endsWith(".js") ? locate(cf.url, cf.lineNumber) : "";
    const src = module || (cf?.url ? cf.url.replace(/^.*\//, "") : "");
    const key = src ? `${name} ${src}:${(cf?.lineNumber ?? 0) + 1}` : name;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const owner = jsCaller(id) ?? key;
    caller.set(owner, (caller.get(owner) ?? 0) + us);
    const fkey = src || name;
    file.set(fkey, (file.get(fkey) ?? 0) + us);
  });
  const list = (m: Map<string, number>): SelfTime[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => ({
        fn: k,
        ms: Math.round(us / 1000),
        share: busy ? Math.round((us / busy) * 1000) / 10 : 0,
      }));
  return {
    wallMs: Math.round((profile.endTime - profile.startTime) / 1000),
    idleMs: Math.round(idle / 1000),
    busyMs: Math.round(busy / 1000),
    functions: list(fn),
    callers: list(caller),
    files: list(file),
  };
}
