// Raw HTTP requests with node's http module: the request target goes out exactly as written (fetch()
// would resolve `..`, re-encode and reject some of the malformed forms the bad-input corpus needs),
// and a client can hang up after the first bytes of a body.
import { createHash } from "node:crypto";
import { type IncomingHttpHeaders, type OutgoingHttpHeaders, request } from "node:http";

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** sha256 of the body as received. */
  digest: string;
}

export interface RawRequest {
  /** `host:port`, e.g. BedInfo.mirrorHost. */
  host: string;
  method?: string;
  /** Sent as is: no normalisation, no encoding. */
  path: string;
  headers?: OutgoingHttpHeaders;
  body?: string | Buffer;
  timeoutMs?: number;
}

function target(host: string): { hostname: string; port: number } {
  const i = host.lastIndexOf(":");
  return { hostname: host.slice(0, i), port: Number(host.slice(i + 1)) };
}

/** One request on a fresh connection; resolves with the whole answer (bounded by `timeoutMs`). */
export function rawRequest(r: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...target(r.host),
        method: r.method ?? "GET",
        path: r.path,
        headers: r.headers,
        agent: false,
        // The corpus sends oversized headers on purpose; let node send (and receive) them.
        maxHeaderSize: 256 * 1024,
        insecureHTTPParser: true,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.once("end", () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            digest: `sha256:${createHash("sha256").update(body).digest("hex")}`,
          });
        });
        res.once("error", reject);
      },
    );
    req.setTimeout(r.timeoutMs ?? 30_000, () =>
      req.destroy(new Error(`${r.method ?? "GET"} ${r.path.slice(0, 120)}: no answer in time`)),
    );
    req.once("error", reject);
    req.end(r.body);
  });
}

/**
 * GET that hangs up (destroys the socket) as soon as `minBytes` of the body have arrived. Resolves
 * with the status and how many bytes came before the hang-up.
 */
export function getAndHangUp(
  host: string,
  path: string,
  minBytes = 1,
  timeoutMs = 30_000,
): Promise<{ status: number; received: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request({ ...target(host), method: "GET", path, agent: false }, (res) => {
      let received = 0;
      const done = (): void => {
        resolve({ status: res.statusCode ?? 0, received, headers: res.headers });
        req.destroy();
        res.destroy();
      };
      res.on("data", (c: Buffer) => {
        received += c.length;
        if (received >= minBytes) done();
      });
      res.once("end", done);
      res.once("error", () => done());
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${path}: no answer in time`)));
    req.once("error", reject);
    req.end();
  });
}
