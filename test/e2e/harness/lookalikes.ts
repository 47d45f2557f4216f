// Look-alikes of the two big public registries' quirks, as intercepts on a counting proxy:
// - Docker Hub: blob GETs answer 307 to a CDN on ANOTHER host name (`localhost` instead of
//   127.0.0.1; Go clients keep Authorization when only the port changes).
// - Quay: blob GETs answer 302 to a signed-looking, expiring URL on that CDN.
// The CDN refuses (403) any request with an Authorization header, and counts what it saw.
// - Docker Hub's pull quota (HubQuota): when a test sets one, manifest GETs are counted per token
//   subject, answered with `ratelimit-*` headers, and refused with 429 past the limit.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import { authorizationFields, type RequestCounter } from "./counting.ts";
import { forwardHeaders, type Intercept, pipeTo } from "./counting-proxy.ts";
import { listenLoopback } from "./net.ts";

export const CDN_HOST = "localhost";
const BLOB_PATH = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/;

export interface Cdn {
  port: number;
  server: Server;
  /** URL for a blob of `repo`, served on behalf of `face` (counted as `<face>-cdn`). */
  signedUrl(face: string, repo: string, digest: string, style: "hub" | "quay"): string;
  close(): Promise<void>;
}

/** The CDN serves blobs from the anonymous face (same storage) to anyone WITHOUT credentials. */
export async function startCdn(counter: RequestCounter, anonymousFace: string): Promise<Cdn> {
  const secret = randomBytes(32);
  const target = new URL(anonymousFace);
  const mac = (s: string): string => createHmac("sha256", secret).update(s).digest("hex");
  let port = 0;

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", `http://${CDN_HOST}`);
    const face = url.pathname.split("/")[1] ?? "unknown";
    res.once("close", () =>
      counter.record({
        upstream: `${face}-cdn`,
        kind: "cdn",
        method: req.method ?? "",
        url: req.url ?? "",
        status: res.statusCode,
        authorization: req.headers.authorization?.split(" ")[0] ?? null,
        ...authorizationFields(req.headers.authorization),
        range: req.headers.range ?? null,
      }),
    );
    const deny = (status: number, message: string): void => {
      res.writeHead(status, { "content-type": "application/xml" });
      res.end(`<Error><Code>AccessDenied</Code><Message>${message}</Message></Error>`);
    };
    if (req.headers.authorization) return deny(403, "requests with an Authorization header are rejected");
    if (req.method !== "GET" && req.method !== "HEAD") return deny(405, "method not allowed");
    const m = /^\/[^/]+\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
    const repo = url.searchParams.get("repo");
    const expires = Number(url.searchParams.get("Expires") ?? url.searchParams.get("X-Amz-Expires-At"));
    const signature = url.searchParams.get("X-Amz-Signature") ?? url.searchParams.get("Signature") ?? "";
    if (!m?.[1] || !repo) return deny(404, "no such object");
    const expected = mac(`${face}\n${repo}\n${m[1]}\n${expires}`);
    const ok =
      signature.length === expected.length && timingSafeEqual(Buffer.from(signature), Buffer.from(expected));
    if (!ok) return deny(403, "signature does not match");
    if (!(expires * 1000 > Date.now())) return deny(403, "request has expired");
    void pipeTo(target, `/v2/${repo}/blobs/${m[1]}`, req, res);
  });
  port = await listenLoopback(server);

  return {
    port,
    server,
    signedUrl(face, repo, digest, style) {
      const expires = Math.floor(Date.now() / 1000) + 600;
      const sig = mac(`${face}\n${repo}\n${digest}\n${expires}`);
      const q = new URLSearchParams({ repo });
      if (style === "quay") {
        q.set("X-Amz-Algorithm", "AWS4-HMAC-SHA256");
        q.set("X-Amz-Credential", "AKIAE2E/20260101/us-east-1/s3/aws4_request");
        q.set("X-Amz-SignedHeaders", "host");
        q.set("Expires", String(expires));
        q.set("X-Amz-Signature", sig);
      } else {
        q.set("Expires", String(expires));
        q.set("Signature", sig);
      }
      return `http://${CDN_HOST}:${port}/${face}/${digest}?${q}`;
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Asks the face whether the client may read the blob (HEAD with the client's credentials). */
function headStatus(target: URL, path: string, req: IncomingMessage): Promise<number> {
  return new Promise((resolve) => {
    const headers = forwardHeaders(req.headers);
    delete headers.range;
    const r = request({ host: target.hostname, port: target.port, method: "HEAD", path, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 502);
    });
    r.setTimeout(30_000, () => r.destroy());
    r.once("error", () => resolve(502));
    r.end();
  });
}

/**
 * Intercept for a blob-redirecting registry: when the face would serve the blob (auth OK), answer
 * with a redirect to the CDN instead; errors (401 with its challenge, 404) pass through unchanged.
 */
export function redirectBlobs(cdn: Cdn, face: string, style: "hub" | "quay"): Intercept {
  return async (req: IncomingMessage, res: ServerResponse, ctx) => {
    if (req.method !== "GET") return false;
    const m = BLOB_PATH.exec((req.url ?? "").split("?")[0] ?? "");
    if (!m?.[1] || !m[2]) return false;
    const status = await headStatus(ctx.target, req.url ?? "", req);
    if (status !== 200) return false; // let the face answer the GET itself (error body, challenge)
    res.writeHead(style === "hub" ? 307 : 302, {
      location: cdn.signedUrl(face, m[1], m[2], style),
      "content-length": "0",
      "docker-distribution-api-version": "registry/2.0",
    });
    res.end();
    return true;
  };
}

/** Docker Hub's pull quota as a test sets it: `limit` manifest GETs per identity per `window` seconds. */
export interface QuotaSettings {
  limit: number;
  window: number;
}

/** The token subject of a Bearer JWT ("" for anonymous); null without a Bearer token. */
function subjectOf(header: string | undefined): string | null {
  if (!header?.startsWith("Bearer ")) return null;
  try {
    const payload = JSON.parse(
      Buffer.from(header.slice(7).split(".")[1] ?? "", "base64url").toString("utf8"),
    ) as {
      sub?: unknown;
    };
    return typeof payload.sub === "string" ? payload.sub : "";
  } catch {
    return "";
  }
}

/**
 * Docker Hub's pull quota per identity (the token's subject, like Hub's per account; "anonymous" for a
 * token without one). Only manifest GETs the registry serves count; HEADs carry the headers without
 * counting; past the limit a GET gets 429 TOOMANYREQUESTS with `Retry-After`. Off until a test sets it.
 */
export class HubQuota {
  private settings: QuotaSettings | null = null;
  private readonly used = new Map<string, number>();

  set(settings: QuotaSettings | null): void {
    this.settings = settings;
    this.used.clear();
  }

  state(): { settings: QuotaSettings | null; used: Record<string, number> } {
    return { settings: this.settings, used: Object.fromEntries(this.used) };
  }

  /** Wraps the proxy's other intercept (`next`) for everything that is not a manifest request. */
  intercept(next: Intercept): Intercept {
    return async (req, res, ctx) => {
      const settings = this.settings;
      const path = (req.url ?? "").split("?")[0] ?? "";
      const manifest =
        /^\/v2\/.+\/manifests\/[^/]+$/.test(path) && (req.method === "GET" || req.method === "HEAD");
      const subject = subjectOf(req.headers.authorization);
      // Without a token the registry answers its challenge: not counted, no headers.
      if (!settings || !manifest || subject === null) return next(req, res, ctx);
      const who = subject || "anonymous";
      const used = this.used.get(who) ?? 0;
      const headers = (remaining: number) => ({
        "ratelimit-limit": `${settings.limit};w=${settings.window}`,
        "ratelimit-remaining": `${remaining};w=${settings.window}`,
        "docker-ratelimit-source": who,
      });
      if (req.method === "GET" && used >= settings.limit) {
        req.resume();
        const body = JSON.stringify({
          errors: [
            { code: "TOOMANYREQUESTS", message: "You have reached your pull rate limit.", detail: null },
          ],
        });
        res.writeHead(429, {
          ...headers(0),
          "retry-after": String(settings.window),
          "content-type": "application/json",
          "content-length": String(Buffer.byteLength(body)),
        });
        res.end(body);
        return true;
      }
      await pipeTo(ctx.target, req.url ?? "/", req, res, req.headers.host, undefined, (status) => {
        if (status !== 200) return {};
        if (req.method !== "GET") return headers(settings.limit - used);
        this.used.set(who, used + 1);
        return headers(settings.limit - used - 1);
      });
      return true;
    };
  }
}
