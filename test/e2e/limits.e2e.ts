// Limits (issue 5, points 5 and 6). Rate limiting on a SECOND mirror with `RATE_LIMIT=on` (the
// `RATE_LIMITER` binding of wrangler.toml, 600 requests / 60 s, simulated by wrangler dev with windows
// aligned to the wall clock): one anonymous client bursts `/v2/` until 429 TOOMANYREQUESTS, and nothing
// reaches an upstream; the bed's mirror (RATE_LIMIT off) takes the same burst. Then the bed's mirror
// must not be turned into an SSRF tool: a counting proxy answers manifest and blob GETs with redirects
// (fault mode "redirect") into a chain of 6+ hops, to file:// and ftp://, and to a "CDN" on another
// loopback port (followed, without Authorization although the upstream needs credentials); `?ns=`
// with hosts that are not configured reaches nothing (a listener on that port sees no connection).
import { randomBytes } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { connect, createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { admin, bed, startBedMirror } from "./harness/context.ts";
import type { LoggedRequest } from "./harness/counting.ts";
import type { Fault } from "./harness/faults.ts";
import type { Mirror } from "./harness/mirror.ts";
import { fetchT, HOST, listenLoopback, sleep, waitFor } from "./harness/net.ts";
import { ACCEPT_ALL } from "./harness/push.ts";

const b = bed();

/** wrangler.toml `[[ratelimits]] RATE_LIMITER`: simple = { limit = 600, period = 60 }. */
const LIMIT = 600;
const PERIOD_MS = 60_000;
/** No burst sends more than this many requests. */
const MAX_BURST = 700;
const CONCURRENCY = 8;
/** A burst is started only with at least this much left of the simulator's (wall-clock) window. */
const WINDOW_MARGIN_MS = 12_000;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function call(url: string, init: RequestInit = {}, timeoutMs = 30_000): Promise<Answer> {
  const res = await fetchT(url, init, timeoutMs);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function ociError(a: Answer): { code?: string; message?: string } | undefined {
  try {
    return (JSON.parse(a.text) as { errors?: { code?: string; message?: string }[] }).errors?.[0];
  } catch {
    return undefined;
  }
}

const ociCode = (a: Answer): string | undefined => ociError(a)?.code;

function describeAnswer(what: string, a: Answer): string {
  return `${what} → ${a.status} ${a.headers.get("content-type") ?? ""} ${a.text.slice(0, 400)}`;
}

function show(reqs: LoggedRequest[]): string {
  return (
    reqs
      .map(
        (r) =>
          `${r.upstream} ${r.method} ${r.url} → ${r.status}${r.authorization ? ` (${r.authorization})` : ""}`,
      )
      .join("\n") || "(none)"
  );
}

const unique = (): string => `lim-${randomBytes(6).toString("hex")}`;
const fakeDigest = (): string => `sha256:${randomBytes(32).toString("hex")}`;

interface BurstResult {
  sent: number;
  ok: number;
  /** 1-based send index of the first 429, if any. */
  first429: number | null;
  other: Answer[];
  limited: Answer | null;
  ms: number;
}

/** GETs `url` up to `max` times, `CONCURRENCY` at a time, until one answers 429 (in-flight ones finish). */
async function burst(url: string, max: number): Promise<BurstResult> {
  const r: BurstResult = { sent: 0, ok: 0, first429: null, other: [], limited: null, ms: 0 };
  const t0 = Date.now();
  const worker = async (): Promise<void> => {
    while (r.sent < max && r.first429 === null) {
      const index = ++r.sent;
      const a = await call(url, {}, 10_000);
      if (a.status === 200) r.ok++;
      else if (a.status === 429) {
        if (r.first429 === null || index < r.first429) {
          r.first429 = index;
          r.limited = a;
        }
      } else r.other.push(a);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  r.ms = Date.now() - t0;
  return r;
}

describe("rate limiting (RATE_LIMIT on, one anonymous client)", () => {
  let mirror: Mirror;

  beforeAll(async () => {
    mirror = await startBedMirror({ vars: { RATE_LIMIT: "on" }, logFile: "wrangler-limits.log" });
  });
  afterAll(async () => {
    await mirror?.stop();
  });
  beforeEach(async () => {
    await admin().reset();
  });

  it(`answers 429 TOOMANYREQUESTS with Retry-After after about ${LIMIT} requests, before any upstream`, async () => {
    // The simulator's windows are aligned to the wall clock: a burst that crosses a boundary starts
    // counting again. Start early in a window (waits at most WINDOW_MARGIN_MS).
    const left = PERIOD_MS - (Date.now() % PERIOD_MS);
    if (left < WINDOW_MARGIN_MS) await sleep(left + 250);
    const windowAtStart = Math.floor(Date.now() / PERIOD_MS);
    const r = await burst(`${mirror.url}/v2/`, MAX_BURST);
    const windowAtEnd = Math.floor(Date.now() / PERIOD_MS);
    const summary = `sent ${r.sent}, 200: ${r.ok}, first 429 at #${r.first429}, ${r.ms} ms`;
    console.log(`rate-limited mirror: ${summary}`);
    expect(windowAtEnd, `the burst crossed a rate-limit window (${summary})`).toBe(windowAtStart);
    expect(r.other.map((a) => describeAnswer("GET /v2/", a))).toEqual([]);
    expect(r.first429, `no 429 within ${MAX_BURST} requests (${summary})`).not.toBeNull();
    expect(r.first429, summary).toBeGreaterThanOrEqual(500);
    expect(r.first429, summary).toBeLessThanOrEqual(650);
    expect(r.ok, summary).toBeGreaterThanOrEqual(500);
    expect(r.ok, summary).toBeLessThanOrEqual(LIMIT);

    const limited = r.limited as Answer;
    expect(limited.headers.get("content-type") ?? "", describeAnswer("429", limited)).toMatch(/json/);
    expect(ociCode(limited), describeAnswer("429", limited)).toBe("TOOMANYREQUESTS");
    const retryAfter = limited.headers.get("retry-after") ?? "";
    expect(retryAfter, describeAnswer("429 Retry-After", limited)).toMatch(/^[1-9]\d*$/);
    expect(Number(retryAfter)).toBeLessThanOrEqual(PERIOD_MS / 1000);

    // Still limited: pull requests are refused before the mirror looks anything up upstream.
    const { anon } = b.images;
    const layer = anon.manifests[0]?.layers[0]?.digest ?? fakeDigest();
    for (const path of [
      `/v2/anon/${anon.repo}/manifests/${anon.tag}`,
      `/anon/v2/${anon.repo}/blobs/${layer}`,
      `/v2/${anon.repo}/tags/list?ns=anon.e2e`,
      `/v2/token/private/secret/manifests/${unique()}`,
    ]) {
      const a = await call(`${mirror.url}${path}`, { headers: { accept: ACCEPT_ALL } });
      expect(a.status, describeAnswer(path, a)).toBe(429);
      expect(ociCode(a), describeAnswer(path, a)).toBe("TOOMANYREQUESTS");
      expect(a.headers.get("retry-after"), describeAnswer(path, a)).toMatch(/^[1-9]\d*$/);
    }
    const reqs = await admin().requests();
    expect(reqs, `upstream requests during the burst:\n${show(reqs)}`).toEqual([]);
  });

  it("the bed's mirror (RATE_LIMIT off) takes the same burst without a 429", async () => {
    const r = await burst(`${b.mirrorUrl}/v2/`, 650);
    console.log(`bed mirror (RATE_LIMIT off): sent ${r.sent}, 200: ${r.ok}, ${r.ms} ms`);
    expect(
      r.first429,
      describeAnswer(
        "429 from the bed's mirror",
        r.limited ?? { status: 0, headers: new Headers(), text: "" },
      ),
    ).toBeNull();
    expect(r.other.map((a) => describeAnswer("GET /v2/", a))).toEqual([]);
    expect(r.ok).toBe(650);
    expect(await admin().requests()).toEqual([]);
  });
});

// --- SSRF -----------------------------------------------------------------------------------------

interface Seen {
  method: string;
  url: string;
  authorization: string | null;
}

/** A loopback HTTP server that records every request (without secrets: only the header's scheme). */
async function recordingServer(
  handle: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
): Promise<{ port: number; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createHttpServer((req, res) => {
    seen.push({
      method: req.method ?? "",
      url: req.url ?? "",
      authorization: req.headers.authorization?.split(" ")[0] ?? null,
    });
    req.resume();
    Promise.resolve(handle(req, res)).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
  const port = await listenLoopback(server);
  return { port, seen, server };
}

function close(server: Server | TcpServer): Promise<void> {
  if ("closeAllConnections" in server) server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

describe("redirects and ?ns= cannot be turned into SSRF", () => {
  /** `/hop/<n>` → 302 `/hop/<n+1>` (relative) up to 40; `/to-cdn/<k>/…` → k more hops, then the CDN. */
  let hops: Awaited<ReturnType<typeof recordingServer>>;
  /** Another loopback port: serves manifests of the shared storage, refuses any Authorization (403). */
  let cdn: Awaited<ReturnType<typeof recordingServer>>;
  /** A TCP port that must never see a connection. */
  let trap: TcpServer;
  let trapPort = 0;
  let trapConnections = 0;

  const cdnUrl = (repo: string, digest: string): string =>
    `http://${HOST}:${cdn.port}/cdn/${digest}?repo=${encodeURIComponent(repo)}`;

  beforeAll(async () => {
    hops = await recordingServer((req, res) => {
      const url = new URL(req.url ?? "/", `http://${HOST}`);
      const hop = /^\/hop\/(\d+)$/.exec(url.pathname);
      const toCdn = /^\/to-cdn\/(\d+)\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
      let location: string | undefined;
      if (hop && Number(hop[1]) < 40) location = `/hop/${Number(hop[1]) + 1}`;
      else if (toCdn) {
        const k = Number(toCdn[1]);
        const repo = url.searchParams.get("repo") ?? "";
        location =
          k > 0
            ? `/to-cdn/${k - 1}/${toCdn[2]}?repo=${encodeURIComponent(repo)}`
            : cdnUrl(repo, toCdn[2] ?? "");
      }
      if (location === undefined) {
        res.writeHead(404, { "content-length": "0" });
        res.end();
        return;
      }
      res.writeHead(302, { location, "content-length": "0" });
      res.end();
    });
    cdn = await recordingServer(async (req, res) => {
      if (req.headers.authorization) {
        res.writeHead(403, { "content-type": "text/plain" });
        res.end("requests with an Authorization header are rejected");
        return;
      }
      const url = new URL(req.url ?? "/", `http://${HOST}`);
      const m = /^\/cdn\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
      const repo = url.searchParams.get("repo");
      if (!m || !repo) {
        res.writeHead(404, { "content-length": "0" });
        res.end();
        return;
      }
      const up = await fetchT(`${b.faces.anon}/v2/${repo}/manifests/${m[1]}`, {
        method: req.method === "HEAD" ? "HEAD" : "GET",
        headers: { accept: req.headers.accept ?? ACCEPT_ALL },
      });
      const body = Buffer.from(await up.arrayBuffer());
      const headers: Record<string, string> = { "content-length": String(body.length) };
      for (const h of ["content-type", "docker-content-digest"]) {
        const v = up.headers.get(h);
        if (v) headers[h] = v;
      }
      if (req.method === "HEAD") headers["content-length"] = up.headers.get("content-length") ?? "0";
      res.writeHead(up.status, headers);
      res.end(req.method === "HEAD" ? undefined : body);
    });
    trap = createTcpServer((socket) => {
      trapConnections++;
      socket.destroy();
    });
    trapPort = await listenLoopback(trap);
  });
  /**
   * Connections the trap accepted before now: a connection of our own is accepted after any the mirror
   * made before it answered, so once ours is counted, theirs are too.
   */
  const trapConnectionsSoFar = async (): Promise<number> => {
    const before = trapConnections;
    await new Promise<void>((resolve) => {
      const socket = connect(trapPort, HOST);
      socket.once("close", () => resolve());
      socket.once("error", () => resolve());
    });
    await waitFor(
      "our own connection to the trap to be counted",
      async () => (trapConnections > before ? true : undefined),
      10_000,
      10,
    );
    return trapConnections - 1;
  };
  afterAll(async () => {
    await admin().clearFaults();
    for (const s of [hops?.server, cdn?.server, trap]) if (s) await close(s);
  });
  beforeEach(async () => {
    await admin().reset();
    await admin().clearFaults();
    hops.seen.length = 0;
    cdn.seen.length = 0;
    trapConnections = 0;
  });
  afterEach(async () => {
    await admin().clearFaults();
  });

  const { anon } = b.images;
  /** The anon upstream answers requests whose URL contains `match` with a redirect to `location`. */
  const redirectAnon = (match: string, location: string): Promise<void> =>
    admin().addFault({ upstream: "anon", mode: "redirect", match, location } satisfies Fault);
  const objects = [
    ["manifest GET", (match: string) => `/v2/anon/${anon.repo}/manifests/${match}`, () => unique()],
    [
      "blob GET",
      (match: string) => `/v2/anon/${anon.repo}/blobs/sha256:${match}`,
      () => fakeDigest().slice(7),
    ],
  ] as const;

  it.each(objects)(
    "%s: a redirect chain of 6+ hops → 502 UNAVAILABLE after at most 6 requests",
    async (what, path, id) => {
      const match = id();
      await redirectAnon(match, `http://${HOST}:${hops.port}/hop/1`);
      const a = await call(`${b.mirrorUrl}${path(match)}`, { headers: { accept: ACCEPT_ALL } });
      const upstream = (await admin().requests("anon")).filter((r) => r.url.includes(match));
      const chain = `upstream:\n${show(upstream)}\nhops:\n${hops.seen.map((s) => `${s.method} ${s.url}`).join("\n")}`;
      expect(a.status, `${describeAnswer(what, a)}\n${chain}`).toBe(502);
      expect(ociCode(a), describeAnswer(what, a)).toBe("UNAVAILABLE");
      expect(upstream.length, chain).toBeGreaterThanOrEqual(1);
      expect(
        upstream.every((r) => r.status === 302),
        chain,
      ).toBe(true);
      expect(hops.seen.length, `the redirect was not followed at all\n${chain}`).toBeGreaterThanOrEqual(1);
      expect(upstream.length + hops.seen.length, `requests along the chain\n${chain}`).toBeLessThanOrEqual(6);
      console.log(`${what}: ${upstream.length} upstream + ${hops.seen.length} hop requests before 502`);
    },
  );

  it.each(
    objects.flatMap(([what, path, id]) =>
      [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
        "ftp://127.0.0.1:TRAP/x",
        "gopher://127.0.0.1:TRAP/_x",
        "ws://127.0.0.1:TRAP/x",
      ].map((location) => [what, location, path, id] as const),
    ),
  )("%s redirected to %s → 502, nothing fetched", async (what, location, path, id) => {
    const match = id();
    await redirectAnon(match, location.replace("TRAP", String(trapPort)));
    const a = await call(`${b.mirrorUrl}${path(match)}`, { headers: { accept: ACCEPT_ALL } });
    const upstream = (await admin().requests("anon")).filter((r) => r.url.includes(match));
    expect(a.status, describeAnswer(what, a)).toBe(502);
    expect(ociCode(a), describeAnswer(what, a)).toBe("UNAVAILABLE");
    // workerd's fetch() refuses most of these schemes by itself ("upstream is unreachable"): the
    // mirror must refuse the redirect before fetching, and say so.
    expect(ociError(a)?.message, describeAnswer(what, a)).toMatch(/redirect/i);
    expect(a.text).not.toContain("root:");
    expect(
      upstream.map((r) => r.status),
      show(upstream),
    ).toEqual([302]);
    expect(await trapConnectionsSoFar(), "connections to the ftp/gopher port").toBe(0);
    expect(hops.seen).toEqual([]);
  });

  it("a manifest GET of a credentialed upstream redirected to another loopback port is followed, without Authorization", async () => {
    const { secret } = b.images;
    const tag = unique();
    await admin().addFault({
      upstream: "token",
      mode: "redirect",
      status: 307,
      kinds: ["manifest-get"],
      match: tag,
      withAuthorization: true,
      location: cdnUrl(secret.repo, secret.top.digest),
    });
    const path = `/v2/token/${secret.repo}/manifests/${tag}`;
    const a = await call(`${b.mirrorUrl}${path}`, { headers: { accept: ACCEPT_ALL } });
    const upstream = (await admin().requests("token")).filter((r) => r.url.includes(tag));
    const seen = `upstream:\n${show(upstream)}\ncdn:\n${cdn.seen.map((s) => `${s.method} ${s.url} ${s.authorization ?? "-"}`).join("\n")}`;
    expect(a.status, `${describeAnswer(path, a)}\n${seen}`).toBe(200);
    expect(a.headers.get("docker-content-digest")).toBe(secret.top.digest);
    // The upstream got the credentials (it needs them for private/), the CDN got none.
    const redirected = upstream.filter((r) => r.status === 307);
    expect(redirected.length, seen).toBeGreaterThanOrEqual(1);
    expect(
      redirected.every((r) => r.authorization === "Bearer"),
      seen,
    ).toBe(true);
    expect(cdn.seen.length, seen).toBeGreaterThanOrEqual(1);
    expect(
      cdn.seen.filter((s) => s.authorization !== null),
      seen,
    ).toEqual([]);
  });

  it("a chain of exactly 5 redirects (upstream, 3 hops, then the CDN) is still followed", async () => {
    const { secret } = b.images;
    const tag = unique();
    await admin().addFault({
      upstream: "token",
      mode: "redirect",
      kinds: ["manifest-get"],
      match: tag,
      withAuthorization: true,
      location: `http://${HOST}:${hops.port}/to-cdn/3/${secret.top.digest}?repo=${encodeURIComponent(secret.repo)}`,
    });
    const path = `/v2/token/${secret.repo}/manifests/${tag}`;
    const a = await call(`${b.mirrorUrl}${path}`, { headers: { accept: ACCEPT_ALL } });
    const seen = `hops:\n${hops.seen.map((s) => `${s.url} ${s.authorization ?? "-"}`).join("\n")}\ncdn: ${cdn.seen.length}`;
    expect(a.status, `${describeAnswer(path, a)}\n${seen}`).toBe(200);
    expect(a.headers.get("docker-content-digest")).toBe(secret.top.digest);
    expect(hops.seen.length, seen).toBe(4);
    expect(
      [...hops.seen, ...cdn.seen].filter((s) => s.authorization !== null),
      seen,
    ).toEqual([]);
  });

  const { badinput } = b.images;
  const layer = badinput.manifests[0]?.layers[0]?.digest ?? fakeDigest();
  it.each(["169.254.169.254", "169.254.169.254:80", "localhost:22", "127.0.0.1:TRAP", "localhost:TRAP"])(
    "?ns=%s (not a configured host) → 404 NAME_UNKNOWN, no connection",
    async (ns) => {
      const host = ns.replace("TRAP", String(trapPort));
      for (const path of [
        `/v2/${anon.repo}/manifests/${anon.tag}?ns=${encodeURIComponent(host)}`,
        `/v2/${badinput.repo}/blobs/${layer}?ns=${host}`,
        `/v2/${anon.repo}/tags/list?ns=${host}`,
      ]) {
        const t0 = Date.now();
        const a = await call(`${b.mirrorUrl}${path}`, { headers: { accept: ACCEPT_ALL } });
        expect(a.status, describeAnswer(path, a)).toBe(404);
        expect(ociCode(a), describeAnswer(path, a)).toBe("NAME_UNKNOWN");
        expect(Date.now() - t0, `${path} took long: did it try to connect?`).toBeLessThan(5000);
      }
      expect(await trapConnectionsSoFar(), `connections to 127.0.0.1:${trapPort}`).toBe(0);
      const reqs = await admin().requests();
      expect(reqs, show(reqs)).toEqual([]);
    },
  );
});
