// Request accounting for every upstream the mirror can reach. Tests read these counts to prove what
// the mirror did NOT do (ask the upstream again, send credentials to a CDN, ...).
import { createHash } from "node:crypto";

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
  /**
   * Who the Authorization header speaks for, without its secret: `Basic <user>`, or `Bearer iss=<issuer>
   * sub=<subject>` read (unverified) from a JWT; null without the header.
   */
  authorizationWho?: string | null;
  /** sha256 (hex) of the whole Authorization value, to compare with a known credential without logging it. */
  authorizationSha256?: string | null;
  at: number;
}

/** The `authorizationWho` / `authorizationSha256` fields of a LoggedRequest for an Authorization header. */
export function authorizationFields(
  header: string | undefined,
): Pick<LoggedRequest, "authorizationWho" | "authorizationSha256"> {
  if (!header) return { authorizationWho: null, authorizationSha256: null };
  const [scheme = "", value = ""] = header.split(" ", 2);
  let who = scheme;
  try {
    if (scheme.toLowerCase() === "basic") {
      const raw = Buffer.from(value, "base64").toString("utf8");
      who = `Basic ${raw.slice(0, Math.max(0, raw.indexOf(":")))}`;
    } else if (scheme.toLowerCase() === "bearer") {
      const payload = JSON.parse(Buffer.from(value.split(".")[1] ?? "", "base64url").toString("utf8")) as {
        iss?: unknown;
        sub?: unknown;
      };
      who = `Bearer iss=${String(payload.iss)} sub=${String(payload.sub)}`;
    }
  } catch {
    // Not a JWT: the scheme alone.
  }
  return {
    authorizationWho: who,
    authorizationSha256: createHash("sha256").update(header).digest("hex"),
  };
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
