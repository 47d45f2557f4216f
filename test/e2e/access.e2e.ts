// Access control (issue 5), on a SECOND mirror with MIRROR_USERS: real clients authenticate (skopeo,
// podman login, ctr --user), per-user patterns and per-upstream allow/deny refuse before any upstream
// request, a blob fetched with upstream credentials stays private to the repositories that hold it,
// no secret leaks into a response or the log, and every pull leaves one audit line.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Containerd, makePodman, readDir, skopeoCopy, startContainerd } from "./harness/clients.ts";
import { admin, bed } from "./harness/context.ts";
import type { LoggedRequest } from "./harness/counting.ts";
import { expectFullCopy, expectSingleCopy, platformManifest } from "./harness/expect-image.ts";
import { type Mirror, startMirror, type UpstreamConfig } from "./harness/mirror.ts";
import { diagnostics } from "./harness/mirror-client.ts";
import { fetchT, waitFor } from "./harness/net.ts";
import { type RunResult, run } from "./harness/processes.ts";
import { ACCEPT_ALL } from "./harness/push.ts";
import { makeContainersEnv, type SkopeoEnv } from "./harness/skopeo-env.ts";

const b = bed();
const { secret, token, basic, anon, app } = b.images;
const CI = { user: "ci", password: "ci-pass" };
const ROBOT = { user: "robot", password: "robot-pass" };
const USERS = {
  [CI.user]: CI.password,
  [ROBOT.user]: { password: ROBOT.password, allow: ["token/private/*"] },
};
const basicOf = (user: string, password: string): string =>
  Buffer.from(`${user}:${password}`).toString("base64");
const AS_CI = { authorization: `Basic ${basicOf(CI.user, CI.password)}` };
const AS_ROBOT = { authorization: `Basic ${basicOf(ROBOT.user, ROBOT.password)}` };

/** Every secret of this mirror's configuration, in the forms it could leak in. */
const SECRETS = [
  b.user.password,
  CI.password,
  ROBOT.password,
  basicOf(b.user.username, b.user.password),
  basicOf(CI.user, CI.password),
  basicOf(ROBOT.user, ROBOT.password),
];

let mirror: Mirror;
let host: string;
let env: SkopeoEnv;
const logFile = join(b.workDir, "wrangler-access.log");
/** Every response (status line, headers, body) and client output seen in this file. */
const seen: string[] = [];
/** Every upstream request made while this file ran. */
const upstreamSeen: LoggedRequest[] = [];

async function drainUpstreamLog(): Promise<LoggedRequest[]> {
  const reqs = await admin().requests();
  upstreamSeen.push(...reqs);
  await admin().reset();
  return reqs;
}

interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
  text: string;
  digest: string;
}

/** A request to the access-controlled mirror; the answer is kept for the secrets check. */
async function call(path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetchT(`${mirror.url}${path}`, init, 60_000);
  const body = Buffer.from(await res.arrayBuffer());
  const headerText = [...res.headers].map(([k, v]) => `${k}: ${v}`).join("\n");
  const text = body.toString("latin1");
  seen.push(`${res.status}\n${headerText}\n\n${text}`);
  return {
    status: res.status,
    headers: res.headers,
    body,
    text,
    digest: `sha256:${createHash("sha256").update(body).digest("hex")}`,
  };
}

function keep(r: RunResult): RunResult {
  seen.push(`${r.stdout}\n${r.stderr}`);
  return r;
}

async function ok(what: string, r: RunResult): Promise<RunResult> {
  keep(r);
  if (r.code !== 0) {
    throw new Error(
      `${what} failed (exit ${r.code}, ${r.ms} ms)\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n--- access mirror log (tail)\n${mirror.process.output().slice(-3000)}\n${await diagnostics()}`,
    );
  }
  return r;
}

let pullSeq = 0;
async function skopeoPull(path: string, opts: { creds?: string; all?: boolean } = {}) {
  const dest = join(env.dir, `pull-${pullSeq++}`);
  const r = await skopeoCopy(env, { ref: `${host}/${path}`, dest: `dir:${dest}`, ...opts });
  return { r: keep(r), dest };
}

async function skopeoPullOk(path: string, opts: { creds?: string; all?: boolean } = {}) {
  const { r, dest } = await skopeoPull(path, opts);
  await ok(`skopeo copy docker://${host}/${path}`, r);
  return readDir(dest);
}

function show(reqs: LoggedRequest[]): string {
  return (
    reqs
      .map((r) => `${r.upstream} ${r.method} ${r.url} → ${r.status} (${r.authorizationWho ?? "no auth"})`)
      .join("\n") || "(none)"
  );
}

const isOciError = (a: Answer, code: string): boolean => {
  try {
    return (JSON.parse(a.text) as { errors: { code: string }[] }).errors[0]?.code === code;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  env = makeContainersEnv(mkdtempSync(join(b.workDir, "access-")));
  const u = b.upstreams;
  // Credentialed upstreams WITHOUT shareCredentials: client authentication protects them.
  const upstreams: Record<string, UpstreamConfig> = {
    token: { url: u.token.url, hosts: ["token.e2e"], tagTtl: 3600 },
    "token-anon": { url: u["token-anon"].url, hosts: ["token-anon.e2e"], tagTtl: 3600 },
    basic: { url: u.basic.url, hosts: ["basic.e2e"], tagTtl: 3600 },
    anon: {
      url: u.anon.url,
      hosts: ["anon.e2e"],
      tagTtl: 3600,
      allow: ["team/*"],
      deny: ["team/forbidden*"],
    },
  };
  mirror = await startMirror({
    repoRoot: b.repoRoot,
    upstreams,
    defaultUpstream: "anon",
    credentials: { token: b.user, basic: b.user },
    vars: { MIRROR_USERS: JSON.stringify(USERS) },
    logFile,
    readyStatuses: [401],
  });
  host = new URL(mirror.url).host;
  await drainUpstreamLog();
});
afterAll(async () => {
  await mirror?.stop();
});
beforeEach(async () => {
  await drainUpstreamLog();
});

describe("client authentication (MIRROR_USERS)", () => {
  it("curl: /v2/ and a manifest without credentials → 401 with the Bearer challenge of the mirror's /token", async () => {
    for (const path of ["/v2/", `/v2/token/${token.repo}/manifests/v1`]) {
      const r = keep(await run("curl", ["-sS", "-i", "--max-time", "20", `${mirror.url}${path}`]));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout, path).toMatch(/^HTTP\/1\.1 401 /);
      expect(r.stdout, path).toMatch(
        new RegExp(`^www-authenticate: Bearer realm="http://${host}/token",service="${host}"\\r?$`, "im"),
      );
      expect(r.stdout).toContain('"code":"UNAUTHORIZED"');
    }
    expect(await drainUpstreamLog(), "no upstream request for a refused client").toEqual([]);
  });

  it("curl: a wrong password → 401; the right one → 200; /token hands out a token that works", async () => {
    const wrong = keep(
      await run("curl", [
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-u",
        "ci:wrong",
        `${mirror.url}/v2/`,
      ]),
    );
    expect(wrong.stdout).toBe("401");
    const right = keep(
      await run("curl", [
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-u",
        "ci:ci-pass",
        `${mirror.url}/v2/`,
      ]),
    );
    expect(right.stdout).toBe("200");
    const badToken = await call(`/token?service=${host}`, {
      headers: { authorization: `Basic ${basicOf("ci", "nope")}` },
    });
    expect(badToken.status).toBe(401);
    const t = await call(`/token?service=${host}&scope=repository:token/${token.repo}:pull`, {
      headers: AS_CI,
    });
    expect(t.status, t.text).toBe(200);
    const { token: jwt } = JSON.parse(t.text) as { token: string };
    const m = await call(`/v2/token/${token.repo}/manifests/v1`, {
      headers: { authorization: `Bearer ${jwt}`, accept: ACCEPT_ALL },
    });
    expect(m.status, m.text).toBe(200);
    expect(m.digest).toBe(token.top.digest);
    const forged = await call(`/v2/token/${token.repo}/manifests/v1`, {
      headers: { authorization: `Bearer ${jwt.slice(0, -4)}AAAA`, accept: ACCEPT_ALL },
    });
    expect(forged.status).toBe(401);
  });

  it("skopeo --src-creds ci:ci-pass pulls a private/ repository of a credentialed upstream, every digest right", async () => {
    expectFullCopy(
      await skopeoPullOk(`token/${secret.repo}:v1`, { creds: `${CI.user}:${CI.password}`, all: true }),
      secret,
    );
  });

  it("skopeo without credentials fails with 401, and nothing reaches an upstream", async () => {
    const { r } = await skopeoPull(`token/${token.repo}:v1`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/401|unauthorized|authentication required/i);
    const { r: wrong } = await skopeoPull(`token/${token.repo}:v1`, { creds: "ci:not-the-password" });
    expect(wrong.code).not.toBe(0);
    expect(await drainUpstreamLog(), "upstream requests").toEqual([]);
  });

  it("podman login + podman pull", async () => {
    const dir = mkdtempSync(join(b.workDir, "access-podman-"));
    mkdirSync(join(dir, "tmp"), { recursive: true });
    const podman = makePodman(dir, makeContainersEnv(dir));
    await ok(
      "podman login",
      await podman.run(["login", "--tls-verify=false", "-u", CI.user, "-p", CI.password, host], 60_000),
    );
    const ref = `${host}/token/${token.repo}:v1`;
    await ok("podman pull", await podman.run(["pull", "--quiet", "--tls-verify=false", ref]));
    const inspect = await ok(
      "podman image inspect",
      await podman.run(["image", "inspect", "--format", "{{.Digest}}", ref]),
    );
    expect(inspect.stdout.trim()).toBe(token.top.digest);
  });

  describe("containerd", () => {
    let containerd: Containerd;
    beforeAll(async () => {
      containerd = await startContainerd(
        mkdtempSync(join(tmpdir(), "e2e-ctr-acl-")),
        join(b.workDir, "containerd-access.log"),
      );
    });
    afterAll(async () => {
      await containerd?.stop();
    });

    it("`ctr images pull --user ci:ci-pass` (POST /token password grant)", async () => {
      const from = readFileSync(logFile, "utf8").length;
      const ref = `${host}/basic/${basic.repo}:v1`;
      await ok(
        "ctr images pull --user",
        await containerd.ctr(["images", "pull", "--plain-http", "--user", `${CI.user}:${CI.password}`, ref]),
      );
      const ls = await ok("ctr images ls", await containerd.ctr(["images", "ls"]));
      const line = ls.stdout.split("\n").find((l) => l.startsWith(`${ref} `));
      expect(line, ls.stdout).toContain(basic.top.digest);
      const content = await ok("ctr content ls", await containerd.ctr(["content", "ls", "-q"]));
      const m = platformManifest(basic, "amd64");
      for (const d of [m.config.digest, ...m.layers.map((l) => l.digest)])
        expect(content.stdout).toContain(d);
      const log = readFileSync(logFile, "utf8").slice(from);
      expect(log, "containerd asked the mirror's token endpoint").toMatch(/(POST|GET) \/token\S* 200/);
    });

    it("`ctr images pull` without credentials fails", async () => {
      const r = keep(
        await containerd.ctr(["images", "pull", "--plain-http", `${host}/basic/${basic.repo}:v1`], 60_000),
      );
      expect(r.code).not.toBe(0);
      expect(`${r.stdout}${r.stderr}`).toMatch(/401|unauthorized/i);
    });
  });
});

describe("an upstream's refusal (security issue, item 7)", () => {
  it("ci → a private repository through the prefix without upstream credentials: 401 with the MIRROR's challenge", async () => {
    const path = `/v2/token-anon/${secret.repo}/manifests/v1`;
    const r = await call(path, { headers: { ...AS_CI, accept: ACCEPT_ALL } });
    const what = `${path} → ${r.status} ${r.headers.get("www-authenticate")} ${r.text.slice(0, 300)}`;
    expect(r.status, what).toBe(401);
    expect(r.headers.get("www-authenticate"), what).toBe(
      `Bearer realm="${mirror.url}/token",service="${host}"`,
    );
    expect(isOciError(r, "UNAUTHORIZED"), what).toBe(true);
    const message = (JSON.parse(r.text) as { errors: { message: string }[] }).errors[0]?.message;
    expect(message, what).toContain('upstream "token-anon"');
    // The upstream did refuse it (the mirror asked), and its realm (the token server's) was not passed on.
    const reqs = await drainUpstreamLog();
    expect(
      reqs.some((q) => q.url.includes(secret.repo) && q.status === 401),
      show(reqs),
    ).toBe(true);
  });
});

describe("per-user patterns and upstream allow/deny", () => {
  it("robot (allow token/private/*) pulls token/private/secret", async () => {
    expectSingleCopy(
      await skopeoPullOk(`token/${secret.repo}:v1`, { creds: `${ROBOT.user}:${ROBOT.password}` }),
      secret,
    );
  });

  it.each([
    ["a public repository of the same upstream", `/v2/token/${token.repo}/manifests/v1`],
    ["another upstream", `/v2/anon/${anon.repo}/manifests/v1`],
    ["a blob on another upstream", `/v2/basic/${basic.repo}/blobs/${platformManifest(basic).config.digest}`],
    ["the same repository through another prefix", `/v2/token-anon/${secret.repo}/manifests/v1`],
    ["the ?ns= form of another upstream", `/v2/${token.repo}/manifests/v1?ns=token.e2e`],
  ])("robot: %s → 403 DENIED, zero upstream requests", async (_what, path) => {
    const r = await call(path, { headers: { ...AS_ROBOT, accept: ACCEPT_ALL } });
    expect(r.status, `${path} → ${r.status} ${r.text.slice(0, 300)}`).toBe(403);
    expect(isOciError(r, "DENIED"), r.text).toBe(true);
    const reqs = await drainUpstreamLog();
    expect(reqs, show(reqs)).toEqual([]);
  });

  it("robot through skopeo on a refused repository fails", async () => {
    const { r } = await skopeoPull(`anon/${anon.repo}:v1`, { creds: `${ROBOT.user}:${ROBOT.password}` });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/denied|403/i);
    expect(await drainUpstreamLog()).toEqual([]);
  });

  it("ci pulls an allowed repository of the allow-listed upstream", async () => {
    expectFullCopy(
      await skopeoPullOk(`anon/${anon.repo}:v1`, { creds: `${CI.user}:${CI.password}`, all: true }),
      anon,
    );
  });

  it.each([
    ["not in allow (private/)", `/v2/anon/${secret.repo}/manifests/v1`],
    ["not in allow (org/)", `/v2/anon/${app.repo}/blobs/${platformManifest(app).config.digest}`],
    ["in deny", "/v2/anon/team/forbidden-fruit/manifests/v1"],
    ["in deny, by digest", `/v2/anon/team/forbidden/manifests/${anon.top.digest}`],
    ["not in allow, through ?ns=", `/v2/${secret.repo}/manifests/v1?ns=anon.e2e`],
    ["not in allow, through the default upstream", `/v2/${secret.repo}/manifests/v1`],
    ["not in allow, tags/list", `/v2/anon/${secret.repo}/tags/list`],
  ])("upstream allow/deny, ci: %s → 403 DENIED, zero upstream requests", async (_what, path) => {
    const r = await call(path, { headers: { ...AS_CI, accept: ACCEPT_ALL } });
    expect(r.status, `${path} → ${r.status} ${r.text.slice(0, 300)}`).toBe(403);
    expect(isOciError(r, "DENIED"), r.text).toBe(true);
    const reqs = await drainUpstreamLog();
    expect(reqs, show(reqs)).toEqual([]);
  });
});

describe("a blob fetched with upstream credentials stays private", () => {
  const m = platformManifest(secret, "amd64");
  const layer = m.layers[0];
  if (!layer) throw new Error("secret image has no layer");

  it("it is cached (pulled through token/private/secret)", async () => {
    const r = await call(`/v2/token/${secret.repo}/blobs/${layer.digest}`, { headers: AS_CI });
    expect(r.status).toBe(200);
    expect(r.digest).toBe(layer.digest);
    expect(r.headers.get("x-mirror-cache"), "cached by the earlier pulls").toBe("HIT");
  });

  it.each([
    ["the same registry without credentials", `/v2/token-anon/${secret.repo}/blobs/${layer.digest}`, {}],
    [
      "the same registry without credentials, ranged",
      `/v2/token-anon/${secret.repo}/blobs/${layer.digest}`,
      { range: "bytes=0-99" },
    ],
    ["another repository of the credentialed upstream", `/v2/token/${token.repo}/blobs/${layer.digest}`, {}],
    ["another repository, ranged", `/v2/token/${token.repo}/blobs/${layer.digest}`, { range: "bytes=10-" }],
    ["another upstream (basic) and repository", `/v2/basic/${basic.repo}/blobs/${layer.digest}`, {}],
    [
      "another allowed repository of the anonymous upstream",
      `/v2/anon/${anon.repo}/blobs/${layer.digest}`,
      {},
    ],
  ] as [string, string, Record<string, string>][])(
    "not served through %s (404/401, never the bytes)",
    async (_what, path, headers) => {
      const r = await call(path, { headers: { ...AS_CI, ...headers } });
      expect([401, 403, 404], `${path} → ${r.status} ${r.text.slice(0, 200)}`).toContain(r.status);
      expect(r.digest).not.toBe(layer.digest);
      expect(r.body.length).toBeLessThan(4096);
      const head = await call(path, { method: "HEAD", headers: AS_CI });
      expect([401, 403, 404], `HEAD ${path} → ${head.status}`).toContain(head.status);
    },
  );

  it("served again through token/private/secret (ci and robot), zero upstream requests", async () => {
    await drainUpstreamLog();
    for (const who of [AS_CI, AS_ROBOT]) {
      const r = await call(`/v2/token/${secret.repo}/blobs/${layer.digest}`, { headers: who });
      expect(r.status).toBe(200);
      expect(r.digest).toBe(layer.digest);
      expect(r.headers.get("x-mirror-cache")).toBe("HIT");
      // Fetched with upstream credentials, for an authenticated client: no shared cache may keep it.
      expect(r.headers.get("cache-control")).toMatch(/^private,/);
      const ranged = await call(`/v2/token/${secret.repo}/blobs/${layer.digest}`, {
        headers: { ...who, range: "bytes=0-99" },
      });
      expect(ranged.status).toBe(206);
      expect(ranged.headers.get("cache-control")).toMatch(/^private,/);
    }
    const reqs = await drainUpstreamLog();
    expect(reqs, show(reqs)).toEqual([]);
  });
});

describe("secrets go nowhere", () => {
  it("no response body or header, client output or wrangler log holds a configured secret", async () => {
    expect(seen.length, "responses collected").toBeGreaterThan(20);
    // The collection holds what it should (so an empty leak list means something).
    expect(seen.some((s) => /www-authenticate: Bearer realm=/i.test(s))).toBe(true);
    expect(seen.some((s) => s.includes('"access_token"'))).toBe(true);
    // This mirror's log, and the shared mirror's (it holds the same upstream credentials).
    const mainLog = join(b.workDir, "wrangler.log");
    const logs = {
      "wrangler-access.log": readFileSync(logFile, "utf8"),
      "wrangler.log": existsSync(mainLog) ? readFileSync(mainLog, "utf8") : "",
    };
    const leaks: string[] = [];
    for (const secretValue of SECRETS) {
      const i = seen.findIndex((s) => s.includes(secretValue));
      if (i >= 0) leaks.push(`response #${i} holds a secret: ${seen[i]?.slice(0, 300)}`);
      for (const [name, text] of Object.entries(logs)) {
        const at = text.indexOf(secretValue);
        if (at >= 0)
          leaks.push(
            `${name} holds a secret near: ${text.slice(Math.max(0, at - 200), at).replaceAll(secretValue, "<SECRET>")}`,
          );
      }
    }
    expect(leaks).toEqual([]);
  });

  it("no upstream, token server or CDN ever received the client's Authorization", async () => {
    await drainUpstreamLog();
    expect(upstreamSeen.length, "upstream requests recorded in this file").toBeGreaterThan(0);
    const sha = (s: string): string => createHash("sha256").update(s).digest("hex");
    const clientValues = new Set([sha(AS_CI.authorization), sha(AS_ROBOT.authorization)]);
    const forwarded = upstreamSeen.filter(
      (r) =>
        (r.authorizationSha256 && clientValues.has(r.authorizationSha256)) ||
        /^Basic (ci|robot)$|iss=edge-registry-mirror/.test(r.authorizationWho ?? ""),
    );
    expect(forwarded, show(forwarded)).toEqual([]);
    // The mirror authenticated upstream with its own credentials (so the check above saw real headers).
    expect(
      upstreamSeen.some((r) => r.authorizationWho === `Basic ${b.user.username}`),
      show(upstreamSeen),
    ).toBe(true);
  });
});

describe("audit log", () => {
  interface PullLine {
    event: string;
    method?: string;
    user?: string;
    upstream?: string;
    repository?: string;
    reference?: string;
    digest?: string;
    status?: number;
    cache?: string;
    /** Only on lines of requests refused before a repository was resolved. */
    path?: string;
  }
  const pullLines = (): PullLine[] =>
    readFileSync(logFile, "utf8")
      .split("\n")
      .filter((l) => l.startsWith("{") && l.includes('"event":"pull"'))
      .map((l) => JSON.parse(l) as PullLine);

  it("a JSON line with user, upstream, repository, reference and digest for each pull request", async () => {
    const before = pullLines().length;
    const m = await call(`/v2/token/${token.repo}/manifests/v1`, {
      headers: { ...AS_CI, accept: ACCEPT_ALL },
    });
    expect(m.status).toBe(200);
    const cfg = platformManifest(token).config.digest;
    const blob = await call(`/v2/token/${token.repo}/blobs/${cfg}`, { headers: AS_CI });
    expect(blob.status).toBe(200);
    const refused = await call(`/v2/anon/${anon.repo}/manifests/v1`, { headers: AS_ROBOT });
    expect(refused.status).toBe(403);
    // Lines of earlier requests may still be arriving in the log: pick out the three made here.
    const mine = (line: PullLine) =>
      (line.user === "ci" &&
        line.repository === token.repo &&
        (line.reference === "v1" || line.reference === cfg)) ||
      (line.user === "robot" && line.repository === anon.repo);
    const lines = await waitFor(
      "three new pull lines in the access mirror's log",
      async () => {
        const found = pullLines().slice(before).filter(mine);
        return found.length >= 3 ? found : undefined;
      },
      5000,
      100,
    );
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      user: "ci",
      upstream: "token",
      repository: token.repo,
      reference: "v1",
      digest: token.top.digest,
      status: 200,
    });
    expect(lines[1]).toMatchObject({
      user: "ci",
      upstream: "token",
      repository: token.repo,
      reference: cfg,
      digest: cfg,
      status: 200,
      cache: expect.any(String),
    });
    expect(lines[2]).toMatchObject({ user: "robot", upstream: "anon", repository: anon.repo, status: 403 });
  });

  it("exactly one pull line per registry request, refused ones included", async () => {
    // A last request (an invalid name: refused before any upstream): once wrangler's line for it and its
    // pull line are in the log, so are those of every request before it.
    const marker = `log-marker-${Date.now()}`;
    await call(`/v2/anon/${marker}/INVALID/manifests/v1`);
    const text = await waitFor(
      "the marker request's served and pull lines in the log",
      async () => {
        const log = readFileSync(logFile, "utf8");
        return log.split(marker).length > 2 ? log : undefined;
      },
      20_000,
    );
    // (method, reference, status) of every registry request wrangler logged, and of every pull line.
    const key = (method: string, reference: string, status: string | number): string =>
      `${method} ${reference} ${status}`;
    const endpointOf = (path: string): string | null => {
      const m = /\/(manifests\/[^/?\s]+|blobs\/[^/?\s]+|tags\/list|referrers\/[^/?\s]+)$/.exec(path);
      if (!m?.[1]) return null;
      return /^(manifests|blobs)\//.test(m[1]) ? m[1].replace(/^\w+\//, "") : m[1];
    };
    const served = new Map<string, number>();
    for (const m of text.matchAll(/\[wrangler:info\] (GET|HEAD) (\/\S*) (\d{3})/g)) {
      const reference = endpointOf(m[2] ?? "");
      if (reference === null) continue;
      const k = key(m[1] ?? "", reference, m[3] ?? "");
      served.set(k, (served.get(k) ?? 0) + 1);
    }
    const audited = new Map<string, number>();
    let refused = 0;
    for (const p of pullLines()) {
      // Requests refused before a repository was resolved carry their path instead of a reference.
      const reference = p.reference ?? (p.path ? endpointOf(p.path) : null);
      if (reference === null) continue;
      if (p.reference === undefined) refused++;
      const k = key(p.method ?? "", reference, p.status ?? "");
      audited.set(k, (audited.get(k) ?? 0) + 1);
    }
    const mismatches: string[] = [];
    for (const k of new Set([...served.keys(), ...audited.keys()])) {
      const s = served.get(k) ?? 0;
      const a = audited.get(k) ?? 0;
      if (s !== a) mismatches.push(`${k}: ${s} served, ${a} pull lines`);
    }
    console.log(
      `[e2e] access mirror: ${pullLines().length} pull lines, ${refused} of them for requests refused early`,
    );
    expect(refused).toBeGreaterThan(0);
    expect(pullLines().length).toBeGreaterThan(40);
    expect(mismatches).toEqual([]);
  });
});

describe("catalog, Cache-Control, token body and password guessing (security issue: items 4, 5, 6, 2)", () => {
  it("robot pages /v2/_catalog?n=1: every Link names a repository robot may see, and it sees its own", async () => {
    const seenRepos: string[] = [];
    let path: string | null = "/v2/_catalog?n=1";
    for (let page = 0; path && page < 30; page++) {
      const r = await call(path, { headers: AS_ROBOT });
      expect(r.status, r.text).toBe(200);
      expect(r.headers.get("cache-control")).toBe("private");
      seenRepos.push(...(JSON.parse(r.text) as { repositories: string[] }).repositories);
      const link = r.headers.get("link");
      path = link ? (/^<([^>]+)>; rel="next"$/.exec(link)?.[1] ?? null) : null;
      const last = path ? new URL(path, mirror.url).searchParams.get("last") : null;
      if (last !== null) expect(last, `Link: ${link}`).toMatch(/^(token\/private\/|~)/);
    }
    expect(path, "pagination ended").toBeNull();
    expect(seenRepos).toContain(`token/${secret.repo}`);
    for (const repository of seenRepos) expect(repository).toMatch(/^token\/private\//);
  });

  it("a manifest pulled by an authenticated client is Cache-Control: private", async () => {
    const m = await call(`/v2/token/${secret.repo}/manifests/v1`, {
      headers: { ...AS_CI, accept: ACCEPT_ALL },
    });
    expect(m.status, m.text).toBe(200);
    expect(m.headers.get("cache-control")).toBe("private");
  });

  it("POST /token with a 64 KiB form → 413 SIZE_INVALID", async () => {
    const r = await call("/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `grant_type=password&username=ci&password=${"a".repeat(64 * 1024)}`,
    });
    expect(r.status, r.text).toBe(413);
    expect(isOciError(r, "SIZE_INVALID"), r.text).toBe(true);
  });

  // Last in this file: it leaves this address refused for a minute.
  it("guessing passwords → 429 TOOMANYREQUESTS with Retry-After within 11 tries; then even the right password waits", async () => {
    const statuses: number[] = [];
    let refused: Answer | undefined;
    for (let attempt = 0; attempt < 11 && !refused; attempt++) {
      const r = await call("/v2/", {
        headers: { authorization: `Basic ${basicOf("mallory", `guess-${attempt}`)}` },
      });
      statuses.push(r.status);
      if (r.status === 429) refused = r;
      else expect(r.status).toBe(401);
    }
    expect(refused, `statuses: ${statuses.join(",")}`).toBeDefined();
    expect(Number(refused?.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(refused && isOciError(refused, "TOOMANYREQUESTS"), refused?.text).toBe(true);
    const right = await call(`/token?service=${host}`, { headers: AS_CI });
    expect(right.status, "the address is over its budget").toBe(429);
  });
});
