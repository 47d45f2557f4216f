// Timed operations: skopeo pulls to a `dir:` destination, single blob GETs (time to first byte),
// curl downloads, waiting for the mirror to hold blobs, and the statistics over repetitions.
import { rmSync } from "node:fs";
import { skopeoCopy } from "../../test/e2e/harness/clients.ts";
import { fetchT, sleep } from "../../test/e2e/harness/net.ts";
import { run } from "../../test/e2e/harness/processes.ts";
import type { SkopeoEnv } from "../../test/e2e/harness/skopeo-env.ts";

export interface Stats {
  n: number;
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median =
    s.length === 0 ? Number.NaN : s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
  return { n: s.length, median, min: s[0] ?? Number.NaN, max: s.at(-1) ?? Number.NaN, samples };
}

export const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

/** skopeo copy docker://ref dir:dest; returns seconds. The destination is deleted before and after. */
export async function timedPull(
  env: SkopeoEnv,
  ref: string,
  dest: string,
  timeoutMs = 300_000,
): Promise<number> {
  rmSync(dest, { recursive: true, force: true });
  const started = performance.now();
  const r = await skopeoCopy(env, { ref, dest: `dir:${dest}`, timeoutMs });
  const seconds = (performance.now() - started) / 1000;
  rmSync(dest, { recursive: true, force: true });
  if (r.code !== 0)
    throw new Error(`skopeo copy ${ref} failed (${r.code}) after ${r.ms} ms:\n${r.stderr.slice(-2000)}`);
  return seconds;
}

/** A Bearer token for pulling `repo` from a registry that asks for one (or undefined when it does not). */
export async function pullToken(base: string, repo: string): Promise<string | undefined> {
  const ping = await fetchT(`${base}/v2/`);
  await ping.arrayBuffer();
  if (ping.status === 200) return undefined;
  const challenge = ping.headers.get("www-authenticate") ?? "";
  const param = (k: string): string => new RegExp(`${k}="([^"]*)"`).exec(challenge)?.[1] ?? "";
  const url = new URL(param("realm"));
  url.searchParams.set("service", param("service"));
  url.searchParams.set("scope", `repository:${repo}:pull`);
  const res = await fetchT(url.toString());
  const body = (await res.json()) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new Error(`no token from ${url}`);
  return token;
}

export interface BlobTiming {
  status: number;
  /** Seconds from sending the request to the response headers. */
  headers: number;
  /** Seconds from sending the request to the first body byte. */
  firstByte: number;
  /** Seconds from sending the request to the last body byte. */
  total: number;
  bytes: number;
  cache: string | null;
}

/** GET a blob and read it to the end, timing headers, first body byte and completion. */
export async function timedBlobGet(url: string, token?: string, timeoutMs = 300_000): Promise<BlobTiming> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const t0 = performance.now();
  const res = await fetchT(url, { headers, redirect: "follow" }, timeoutMs);
  const th = performance.now();
  if (!res.body) throw new Error(`GET ${url}: ${res.status} without a body`);
  const reader = res.body.getReader();
  let first = 0;
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (bytes === 0 && value.length > 0) first = performance.now();
    bytes += value.length;
  }
  const t1 = performance.now();
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return {
    status: res.status,
    headers: (th - t0) / 1000,
    firstByte: ((first || t1) - t0) / 1000,
    total: (t1 - t0) / 1000,
    bytes,
    cache: res.headers.get("x-mirror-cache"),
  };
}

export interface CurlTiming {
  status: number;
  bytes: number;
  firstByte: number;
  total: number;
}

/** curl to /dev/null (a light client, so the machine's two cores go to the server under test). */
export async function curlGet(url: string, timeoutMs = 600_000, token?: string): Promise<CurlTiming> {
  const r = await run(
    "curl",
    [
      ...(token ? ["-H", `Authorization: Bearer ${token}`] : []),
      "-sS",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code} %{size_download} %{time_starttransfer} %{time_total}",
      url,
    ],
    { timeoutMs },
  );
  const [status, bytes, firstByte, total] = r.stdout.trim().split(" ").map(Number);
  if (r.code !== 0 || status !== 200) throw new Error(`curl ${url}: exit ${r.code}, ${r.stdout} ${r.stderr}`);
  return { status: status ?? 0, bytes: bytes ?? 0, firstByte: firstByte ?? 0, total: total ?? 0 };
}

/**
 * Waits until the mirror answers HEAD with X-Mirror-Cache: HIT for every digest (the fill has landed in
 * R2), so that a "warm" pull measures R2 and not a fill still finishing. Returns seconds waited. Each
 * HEAD costs the mirror a request (and the fill object a call) on the thread its upload runs on: a run that
 * counts that thread's CPU asks less often.
 */
export async function waitForHits(
  blobUrl: (digest: string) => string,
  digests: string[],
  timeoutMs = 120_000,
  intervalMs = 100,
): Promise<number> {
  const t0 = performance.now();
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(digests);
  while (pending.size > 0) {
    for (const d of [...pending]) {
      const res = await fetchT(blobUrl(d), { method: "HEAD" }, 10_000).catch(() => undefined);
      if (res?.headers.get("x-mirror-cache") === "HIT") pending.delete(d);
    }
    if (pending.size === 0) break;
    if (Date.now() > deadline)
      throw new Error(`blobs not stored after ${timeoutMs} ms: ${[...pending].join(", ")}`);
    await sleep(intervalMs);
  }
  return (performance.now() - t0) / 1000;
}
