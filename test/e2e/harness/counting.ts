// Request accounting for every upstream the mirror can reach. Tests read these counts to prove what
// the mirror did NOT do (ask the upstream again, send credentials to a CDN, ...).

export const KINDS = [
  "token",
  "manifest-head",
  "manifest-get",
  "blob-head",
  "blob-get",
  "tags",
  "ping",
  "cdn",
  "other",
] as const;
export type Kind = (typeof KINDS)[number];
export type Counts = Record<Kind, number>;

export interface LoggedRequest {
  upstream: string;
  kind: Kind;
  method: string;
  url: string;
  status: number;
  /** Whether the request carried an Authorization header, and which scheme. */
  authorization: string | null;
  range: string | null;
  at: number;
}

export function emptyCounts(): Counts {
  return Object.fromEntries(KINDS.map((k) => [k, 0])) as Counts;
}

export function total(c: Counts): number {
  return KINDS.reduce((n, k) => n + c[k], 0);
}

/** Classifies a registry API request by method and path (`/v2/<name>/manifests/<ref>` etc.). */
export function classify(method: string, path: string): Kind {
  const p = path.split("?")[0] ?? path;
  if (p === "/v2/" || p === "/v2") return "ping";
  const m = /^\/v2\/.+\/(manifests|blobs|tags)\/[^/]+$/.exec(p);
  if (!m) return "other";
  const head = method === "HEAD";
  switch (m[1]) {
    case "manifests":
      return head ? "manifest-head" : method === "GET" ? "manifest-get" : "other";
    case "blobs":
      return head ? "blob-head" : method === "GET" ? "blob-get" : "other";
    default:
      return p.endsWith("/tags/list") && method === "GET" ? "tags" : "other";
  }
}

export class RequestCounter {
  private readonly counts = new Map<string, Counts>();
  private log: LoggedRequest[] = [];

  record(entry: Omit<LoggedRequest, "at">): void {
    let c = this.counts.get(entry.upstream);
    if (!c) {
      c = emptyCounts();
      this.counts.set(entry.upstream, c);
    }
    c[entry.kind]++;
    this.log.push({ ...entry, at: Date.now() });
    if (this.log.length > 5000) this.log = this.log.slice(-4000);
  }

  get(upstream: string): Counts {
    return { ...(this.counts.get(upstream) ?? emptyCounts()) };
  }

  all(): Record<string, Counts> {
    return Object.fromEntries([...this.counts].map(([k, v]) => [k, { ...v }]));
  }

  requests(upstream?: string): LoggedRequest[] {
    return upstream ? this.log.filter((r) => r.upstream === upstream) : [...this.log];
  }

  reset(): void {
    this.counts.clear();
    this.log = [];
  }
}
