// Upstream request counts for one scenario, read from the e2e harness's RequestCounter.
import type { Counts, RequestCounter } from "../../test/e2e/harness/counting.ts";
import { emptyCounts, KINDS } from "../../test/e2e/harness/counting.ts";

export interface ScenarioCounts {
  /** Every request the upstream saw, by kind (token requests reach the token server). */
  byKind: Counts;
  /** blob GETs per digest. */
  blobGets: Record<string, number>;
  /** The most GETs any one blob got. */
  maxGetsPerBlob: number;
  /** Requests answered with an error status (4xx other than the 401 challenges, 5xx). */
  errors: number;
  /** The requests themselves (first 60): method, path, status. */
  requests: string[];
}

export function snapshot(counter: RequestCounter): ScenarioCounts {
  const byKind = emptyCounts();
  for (const c of Object.values(counter.all())) for (const k of KINDS) byKind[k] += c[k];
  const blobGets: Record<string, number> = {};
  let errors = 0;
  for (const r of counter.requests()) {
    if (r.status >= 500 || (r.status >= 400 && r.status !== 401)) errors++;
    if (r.kind !== "blob-get") continue;
    const d = /\/blobs\/([a-z0-9]+:[a-f0-9]+)/.exec(r.url)?.[1] ?? r.url;
    blobGets[d] = (blobGets[d] ?? 0) + 1;
  }
  const requests = counter
    .requests()
    .slice(0, 60)
    .map((r) => `${r.method} ${r.url.replace(/(sha256:[a-f0-9]{12})[a-f0-9]{52}/g, "$1…")} ${r.status}`);
  return { byKind, blobGets, maxGetsPerBlob: Math.max(0, ...Object.values(blobGets)), errors, requests };
}
