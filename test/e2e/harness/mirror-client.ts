// Helpers for tests that talk to the mirror: skopeo pulls with rich failure messages, and raw
// registry API requests for the forms no client produces.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type PulledDir, readDir, skopeoCopy } from "./clients.ts";
import { admin, bed } from "./context.ts";
import { fetchT, waitFor } from "./net.ts";
import { ACCEPT_ALL } from "./push.ts";
import type { SkopeoEnv } from "./skopeo-env.ts";

let seq = 0;

/** Tail of the wrangler output and the upstream requests: what one needs to debug a failed pull. */
export async function diagnostics(): Promise<string> {
  const log = await admin().mirrorLog();
  const reqs = await admin().requests();
  const lines = reqs
    .slice(-40)
    .map(
      (r) =>
        `  ${r.upstream} ${r.method} ${r.url} → ${r.status}${r.authorization ? ` (${r.authorization})` : ""}`,
    );
  return `--- upstream requests (last 40)\n${lines.join("\n")}\n--- wrangler output (tail)\n${log.slice(-4000)}`;
}

/**
 * `skopeo copy docker://<mirror>/<path> dir:<tmp>`; throws with skopeo's stderr and the
 * diagnostics when it fails.
 */
export async function pullThroughMirror(
  env: SkopeoEnv,
  path: string,
  opts: { all?: boolean; creds?: string } = {},
): Promise<PulledDir & { ms: number }> {
  const dest = join(env.dir, `pull-${seq++}`);
  const ref = `${bed().mirrorHost}/${path}`;
  const r = await skopeoCopy(env, { ref, dest: `dir:${dest}`, all: opts.all, creds: opts.creds });
  if (r.code !== 0) {
    throw new Error(
      `skopeo copy${opts.all ? " --all" : ""} docker://${ref} failed (exit ${r.code}, ${r.ms} ms):\n${r.stderr}\n${await diagnostics()}`,
    );
  }
  return { ...(await readDir(dest)), ms: r.ms };
}

export interface FetchedManifest {
  status: number;
  digestHeader: string | null;
  contentType: string | null;
  headers: Headers;
  /** sha256 of the body as received. */
  bodyDigest: string;
  body: string;
}

export async function fetchManifest(
  pathAndQuery: string,
  method: "GET" | "HEAD" = "GET",
): Promise<FetchedManifest> {
  const res = await fetchT(
    `${bed().mirrorUrl}${pathAndQuery}`,
    { method, headers: { accept: ACCEPT_ALL } },
    60_000,
  );
  const body = method === "HEAD" ? "" : await res.text();
  return {
    status: res.status,
    digestHeader: res.headers.get("docker-content-digest"),
    contentType: res.headers.get("content-type"),
    headers: res.headers,
    bodyDigest: `sha256:${createHash("sha256").update(body).digest("hex")}`,
    body,
  };
}

export async function fetchBlob(
  pathAndQuery: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Buffer; digest: string }> {
  const res = await fetchT(`${bed().mirrorUrl}${pathAndQuery}`, { headers }, 120_000);
  const body = Buffer.from(await res.arrayBuffer());
  return {
    status: res.status,
    headers: res.headers,
    body,
    digest: `sha256:${createHash("sha256").update(body).digest("hex")}`,
  };
}

/**
 * Waits until the mirror holds the blob at `pathAndQuery` in R2 (HEAD answers `X-Mirror-Cache: HIT`).
 * A cold GET streams the blob to its clients first and uploads it to R2 right after.
 */
export async function waitUntilStored(pathAndQuery: string): Promise<void> {
  await waitFor(
    `${pathAndQuery} stored in R2`,
    async () => {
      const res = await fetchT(`${bed().mirrorUrl}${pathAndQuery}`, { method: "HEAD" }, 10_000);
      return res.headers.get("x-mirror-cache") === "HIT" || undefined;
    },
    60_000,
    100,
  );
}

/** Short description of a failed raw request, for assertion messages. */
export function describeResponse(what: string, r: { status: number; body: string | Buffer }): string {
  const text = typeof r.body === "string" ? r.body : r.body.subarray(0, 500).toString("utf8");
  return `${what} → ${r.status} ${text.slice(0, 500)}`;
}

export interface MirrorLogEntry {
  method: string;
  path: string;
  status: number;
}

/**
 * Requests as wrangler dev logged them (`[wrangler:info] GET /v2/... 200 OK`), oldest first.
 * wrangler does not log query strings, so `?ns=` is not visible here.
 */
export function mirrorLogRequests(): MirrorLogEntry[] {
  const file = join(bed().workDir, "wrangler.log");
  if (!existsSync(file)) return [];
  const out: MirrorLogEntry[] = [];
  for (const m of readFileSync(file, "utf8").matchAll(
    /\[wrangler:info\] (GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) (\d{3})/g,
  )) {
    out.push({ method: m[1] ?? "", path: m[2] ?? "", status: Number(m[3]) });
  }
  return out;
}

/** Waits until wrangler has logged a request matching `pred` after position `from`. */
export function waitForMirrorLog(
  from: number,
  pred: (e: MirrorLogEntry) => boolean,
): Promise<MirrorLogEntry[]> {
  return waitFor(
    "the request in wrangler's log",
    async () => {
      const entries = mirrorLogRequests().slice(from);
      return entries.some(pred) ? entries : undefined;
    },
    5000,
    100,
  );
}
