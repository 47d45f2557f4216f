// The reference Worker (bench/reference-worker) under `wrangler dev`, started the way the mirror is
// (test/e2e/harness/mirror.ts: fresh --persist-to, loopback, the repository's wrangler), with its own
// wrangler.toml and UPSTREAM pointing at the benchmark's upstream.
import { join } from "node:path";
import { type Mirror, startMirror } from "../../test/e2e/harness/mirror.ts";
import { fetchT, freePort } from "../../test/e2e/harness/net.ts";

export type ReferenceWorker = Mirror;
export type ReferenceMode = "cache" | "cache-audit" | "cache-coordinated";

export async function startReferenceWorker(opts: {
  repoRoot: string;
  upstreamUrl: string;
  logFile: string;
  /**
   * "cache": pulls go through a Worker that caches with no policy (see the Worker's header);
   * "cache-audit": the same, writing one audit-like log line per pull request as the mirror does;
   * "cache-coordinated": that, with each cold blob filled by a Durable Object per digest that logs it.
   */
  mode?: ReferenceMode;
}): Promise<ReferenceWorker> {
  const inspectorPort = await freePort();
  return startMirror({
    repoRoot: opts.repoRoot,
    // startMirror also sets UPSTREAMS and DEFAULT_UPSTREAM; the reference Worker reads neither.
    upstreams: {},
    defaultUpstream: "",
    credentials: {},
    vars: {
      UPSTREAM: opts.upstreamUrl,
      ...(opts.mode ? { MODE: "cache" } : {}),
      ...(opts.mode === "cache-audit" || opts.mode === "cache-coordinated" ? { AUDIT: "on" } : {}),
      ...(opts.mode === "cache-coordinated" ? { COORDINATE: "on" } : {}),
    },
    logFile: opts.logFile,
    // Its `GET /v2/` is passed through: the token-auth upstream answers 401.
    readyStatuses: [200, 401],
    extraArgs: [
      "--config",
      join(opts.repoRoot, "bench", "reference-worker", "wrangler.toml"),
      "--inspector-port",
      String(inspectorPort),
    ],
  });
}

/** Stores `size` deterministic bytes under `name` in the reference Worker's R2. */
export async function putReferenceBlob(ref: ReferenceWorker, name: string, size: number): Promise<void> {
  const res = await fetchT(`${ref.url}/ref/blob/${name}?size=${size}`, { method: "PUT" });
  await res.arrayBuffer();
  if (res.status !== 201) throw new Error(`PUT reference blob ${name}: ${res.status}`);
}

export const referenceBlobUrl = (ref: ReferenceWorker, name: string): string => `${ref.url}/ref/blob/${name}`;
