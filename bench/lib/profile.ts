// Where the mirror's time goes: the Worker's own "pull" log lines (one per request, with the time it
// took to produce the response headers) and wrangler's request lines, read from the wrangler dev log.
import { closeSync, openSync, readSync, statSync } from "node:fs";

export interface ProfileEntry {
  /** Seconds since the first entry of the slice. */
  at: number;
  source: "worker" | "wrangler";
  method: string;
  /** manifest, blob, ... (worker) or the path (wrangler). */
  what: string;
  status: number;
  cache?: string;
  bytes?: number;
  upstreamStatus?: string;
  /** Milliseconds to the response headers, as logged. */
  ms: number;
}

function readFrom(file: string, offset: number): string {
  const size = statSync(file).size;
  if (size <= offset) return "";
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    return buf.toString("utf8");
  } finally {
    closeSync(fd);
  }
}

const WRANGLER_LINE = /\[wrangler:info\]\s+(GET|HEAD)\s+(\S+)\s+(\d{3})[^(]*\((\d+)ms\)/;

/** Parses what the wrangler dev log gained since `offset` (bytes). */
export function parseWranglerLog(file: string, offset: number): ProfileEntry[] {
  const out: ProfileEntry[] = [];
  let first: number | undefined;
  for (const line of readFrom(file, offset).split("\n")) {
    const start = line.indexOf("{");
    if (start >= 0 && line.includes('"event":"pull"')) {
      try {
        const e = JSON.parse(line.slice(start)) as Record<string, unknown>;
        const time = Date.parse(String(e.time));
        first ??= time;
        out.push({
          at: (time - first) / 1000,
          source: "worker",
          method: String(e.method),
          what: `${String(e.kind)} ${String(e.reference ?? "").slice(0, 19)}`,
          status: Number(e.status),
          cache: e.cache === undefined ? undefined : String(e.cache),
          bytes: typeof e.bytes === "number" ? e.bytes : undefined,
          upstreamStatus: e.upstreamStatus === undefined ? undefined : String(e.upstreamStatus),
          ms: Number(e.ms),
        });
      } catch {
        // not one of ours
      }
      continue;
    }
    const m = WRANGLER_LINE.exec(line);
    if (m) {
      out.push({
        at: Number.NaN,
        source: "wrangler",
        method: m[1] ?? "",
        what: (m[2] ?? "").replace(/sha256:([a-f0-9]{12})[a-f0-9]+/, "sha256:$1…"),
        status: Number(m[3]),
        ms: Number(m[4]),
      });
    }
  }
  return out;
}

export interface ProfileSummary {
  requests: number;
  /** Per kind of request (worker lines): count, total and largest ms to response headers. */
  byKind: Record<string, { n: number; totalMs: number; maxMs: number; cache: Record<string, number> }>;
  /** wrangler's own lines: count, total and largest ms. */
  wrangler: { n: number; totalMs: number; maxMs: number };
}

export function summarizeProfile(entries: ProfileEntry[]): ProfileSummary {
  const byKind: ProfileSummary["byKind"] = {};
  const wrangler = { n: 0, totalMs: 0, maxMs: 0 };
  for (const e of entries) {
    if (e.source === "wrangler") {
      wrangler.n++;
      wrangler.totalMs += e.ms;
      wrangler.maxMs = Math.max(wrangler.maxMs, e.ms);
      continue;
    }
    const k = `${e.method} ${e.what.split(" ")[0]}`;
    const s = byKind[k] ?? { n: 0, totalMs: 0, maxMs: 0, cache: {} };
    byKind[k] = s;
    s.n++;
    s.totalMs += e.ms;
    s.maxMs = Math.max(s.maxMs, e.ms);
    const c = e.cache ?? "-";
    s.cache[c] = (s.cache[c] ?? 0) + 1;
  }
  return { requests: entries.filter((e) => e.source === "worker").length, byKind, wrangler };
}
