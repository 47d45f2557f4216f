// A transparent HTTP proxy in front of an upstream face that records every request it sees
// (see counting.ts). Look-alikes plug in an `intercept` hook to answer some requests themselves.
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import type { Transform } from "node:stream";
import { authorizationFields, classify, type Kind, type RequestCounter } from "./counting.ts";
import { corrupting, type Fault, type FaultTable } from "./faults.ts";
import { HOST, listenLoopback } from "./net.ts";

export interface ProxyContext {
  name: string;
  target: URL;
  kind: Kind;
}

/** Returns true when it answered the request itself. */
export type Intercept = (req: IncomingMessage, res: ServerResponse, ctx: ProxyContext) => Promise<boolean>;

export interface ProxyOptions {
  name: string;
  /** Base URL of the face, e.g. http://127.0.0.1:5000 */
  target: string;
  counter: RequestCounter;
  faults?: FaultTable;
  intercept?: Intercept;
}

export interface RunningProxy {
  name: string;
  port: number;
  url: string;
  server: Server;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"]);

export function forwardHeaders(h: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) if (!HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

/** Streams req to target+path and the answer back to res. Resolves when the response is complete. */
export function pipeTo(
  target: URL,
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
  host?: string,
  mangle?: Transform,
  /** Headers to add to the answer, by its status (a look-alike's own headers). */
  decorate?: (status: number) => Record<string, string>,
) {
  return new Promise<void>((resolve) => {
    const headers = forwardHeaders(req.headers);
    // Keep the client's Host so that URLs the registry builds point back at this proxy.
    if (host) headers.host = host;
    const up = request(
      { host: target.hostname, port: target.port, method: req.method, path, headers },
      (upRes) => {
        const status = upRes.statusCode ?? 502;
        res.writeHead(status, { ...forwardHeaders(upRes.headers), ...decorate?.(status) });
        if (mangle) upRes.pipe(mangle).pipe(res);
        else upRes.pipe(res);
        upRes.once("end", () => resolve());
        upRes.once("error", () => {
          res.destroy();
          resolve();
        });
      },
    );
    up.setTimeout(120_000, () => up.destroy(new Error("upstream timeout")));
    up.once("error", (err) => {
      if (!res.headersSent) {
        res.writeHead(502, { "content-type": "text/plain" });
        res.end(`proxy error: ${err.message}`);
      } else res.destroy();
      resolve();
    });
    req.pipe(up);
  });
}

export async function startCountingProxy(opts: ProxyOptions): Promise<RunningProxy> {
  const target = new URL(opts.target);
  const server = createServer((req, res) => {
    const path = req.url ?? "/";
    const kind = classify(req.method ?? "GET", path);
    res.once("close", () => {
      opts.counter.record({
        upstream: opts.name,
        kind,
        method: req.method ?? "",
        url: path,
        status: res.statusCode,
        authorization: req.headers.authorization?.split(" ")[0] ?? null,
        ...authorizationFields(req.headers.authorization),
        range: req.headers.range ?? null,
      });
    });
    const ctx: ProxyContext = { name: opts.name, target, kind };
    const fault = opts.faults?.find(opts.name, kind, path, req.headers.authorization !== undefined);
    const go = async (): Promise<void> => {
      if (fault && fault.mode !== "corrupt") return injectFault(fault, req, res);
      if (opts.intercept && (await opts.intercept(req, res, ctx))) return;
      await pipeTo(target, path, req, res, req.headers.host, fault ? corrupting() : undefined);
    };
    go().catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(String(err));
      } else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  const port = await listenLoopback(server);
  return {
    name: opts.name,
    port,
    url: `http://${HOST}:${port}`,
    server,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function injectFault(fault: Fault, req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  switch (fault.mode) {
    case "status": {
      const status = fault.status ?? 503;
      const code =
        { 401: "UNAUTHORIZED", 404: "MANIFEST_UNKNOWN", 429: "TOOMANYREQUESTS" }[status] ?? "UNAVAILABLE";
      const body = JSON.stringify({ errors: [{ code, message: "injected fault", detail: null }] });
      const headers: Record<string, string> = {
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
      };
      if (status === 429) headers["retry-after"] = "1";
      res.writeHead(status, headers);
      res.end(body);
      return;
    }
    case "reset":
      res.statusCode = 0;
      req.socket.destroy();
      return;
    case "redirect": {
      res.writeHead(fault.status ?? 302, {
        location: fault.location ?? "/",
        "content-length": "0",
        "docker-distribution-api-version": "registry/2.0",
      });
      res.end();
      return;
    }
    case "hang":
      // No answer at all; the connection is dropped after a minute (or when the proxy closes).
      res.statusCode = 0;
      setTimeout(() => res.destroy(), 60_000).unref();
      return;
    default:
      return;
  }
}
