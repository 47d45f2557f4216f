// Workload identity (issue 25) on a mirror with OIDC_ISSUERS only, against a local OIDC issuer
// look-alike (discovery, JWKS with RSA and EC keys, rotated mid-run): real clients log in with user
// `oidc` and a platform token (skopeo --creds, podman login, ctr --user, the Kubernetes credential
// provider's answer), pull what the issuer's rules allow and are refused what they do not; an expired
// token is refused, and the mirror token it produced expires with it.
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Containerd, makePodman, readDir, skopeoCopy, startContainerd } from "./harness/clients.ts";
import { admin, bed, startBedMirror } from "./harness/context.ts";
import { expectSingleCopy } from "./harness/expect-image.ts";
import { logEvents, type Mirror } from "./harness/mirror.ts";
import { fetchT, sleep } from "./harness/net.ts";
import { makeOidcKey, type OidcIssuerLookalike, startOidcIssuer } from "./harness/oidc-issuer.ts";
import { type RunResult, run } from "./harness/processes.ts";
import { ACCEPT_ALL } from "./harness/push.ts";
import { makeContainersEnv, type SkopeoEnv } from "./harness/skopeo-env.ts";

const b = bed();
const { app, anon, ctr: ctrImage, podman: podmanImage } = b.images;
const AUDIENCE = "https://mirror.e2e";
/** A GitHub Actions job of acme on a branch; and a Kubernetes service account of namespace builds. */
const JOB = { sub: "repo:acme/app:ref:refs/heads/main", repository_owner: "acme", ref: "refs/heads/main" };
const POD = { sub: "system:serviceaccount:builds:puller" };

let issuer: OidcIssuerLookalike;
let mirror: Mirror;
let host: string;
let env: SkopeoEnv;
let pulls = 0;

beforeAll(async () => {
  issuer = await startOidcIssuer(AUDIENCE);
  const issuers = {
    ci: {
      issuer: issuer.url,
      audience: AUDIENCE,
      rules: [
        { claims: { repository_owner: "acme", ref: "refs/heads/*" }, allow: ["anon/org/*"] },
        { claims: { sub: "system:serviceaccount:builds:*" }, allow: ["anon/team/*"] },
      ],
    },
  };
  mirror = await startBedMirror({
    logFile: "wrangler-oidc.log",
    vars: { OIDC_ISSUERS: JSON.stringify(issuers), MIRROR_TOKEN_KEY: `e2e-${randomUUID()}-${randomUUID()}` },
    readyStatuses: [401],
  });
  host = new URL(mirror.url).host;
  env = makeContainersEnv(mkdtempSync(join(b.workDir, "oidc-")));
});
afterAll(async () => {
  await mirror?.stop();
  await issuer?.close();
});
beforeEach(async () => {
  await admin().reset();
});

function explain(what: string, r: RunResult): string {
  return `${what}: exit ${r.code}\n--- stderr\n${r.stderr.slice(-2000)}\n--- mirror log (tail)\n${mirror.process.output().slice(-3000)}`;
}

async function skopeoPull(path: string, creds: string) {
  const dest = join(env.dir, `oidc-pull-${pulls++}`);
  const r = await skopeoCopy(env, { ref: `${host}/${path}`, dest: `dir:${dest}`, creds });
  return { r, dest };
}

/** Upstream requests for a repository since the last reset: none for a refused client. */
async function upstreamRequestsFor(repo: string): Promise<number> {
  return (await admin().requests()).filter((request) => request.url.includes(`/${repo}/`)).length;
}

/** When the first failed login of the refusal specs was: the login throttle counts per address per minute. */
let failuresSince = 0;

const refusals = () => logEvents(mirror.process.output(), "auth.oidc_refused");

describe("real clients log in with a platform token", () => {
  it("skopeo --creds oidc:<JWT> pulls what the rules allow (RSA-signed), and is denied the rest", async () => {
    const token = issuer.sign(JOB);
    const allowed = await skopeoPull(`anon/${app.repo}:${app.tag}`, `oidc:${token}`);
    expect(allowed.r.code, explain("skopeo copy", allowed.r)).toBe(0);
    expectSingleCopy(await readDir(allowed.dest), app);

    await admin().reset();
    const refused = await skopeoPull(`anon/${anon.repo}:${anon.tag}`, `oidc:${token}`);
    expect(refused.r.code).not.toBe(0);
    expect(refused.r.stderr).toMatch(/denied/i);
    expect(await upstreamRequestsFor(anon.repo)).toBe(0);
  });

  it("an EC-signed token works the same", async () => {
    const token = issuer.sign(JOB, { key: issuer.ec });
    const { r, dest } = await skopeoPull(`anon/${app.repo}:${app.tag}`, `oidc:${token}`);
    expect(r.code, explain("skopeo copy", r)).toBe(0);
    expectSingleCopy(await readDir(dest), app);
  });

  it("podman login -u oidc -p <JWT>, then podman pull; a repository outside the rules is refused", async () => {
    const dir = mkdtempSync(join(b.workDir, "oidc-podman-"));
    mkdirSync(join(dir, "tmp"), { recursive: true });
    const podman = makePodman(dir, makeContainersEnv(dir));
    const login = await podman.run(
      ["login", "--tls-verify=false", "-u", "oidc", "-p", issuer.sign(JOB), host],
      60_000,
    );
    expect(login.code, explain("podman login", login)).toBe(0);
    const ref = `${host}/anon/${podmanImage.repo}:${podmanImage.tag}`;
    const pull = await podman.run(["pull", "--quiet", "--tls-verify=false", ref]);
    expect(pull.code, explain("podman pull", pull)).toBe(0);
    const inspect = await podman.run(["image", "inspect", "--format", "{{.Digest}}", ref]);
    expect(inspect.stdout.trim()).toBe(podmanImage.top.digest);
    const refused = await podman.run([
      "pull",
      "--quiet",
      "--tls-verify=false",
      `${host}/anon/${anon.repo}:${anon.tag}`,
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/denied/i);
  });

  describe("containerd", () => {
    let containerd: Containerd;
    beforeAll(async () => {
      containerd = await startContainerd(
        mkdtempSync(join(tmpdir(), "e2e-ctr-oidc-")),
        join(b.workDir, "containerd-oidc.log"),
      );
    });
    afterAll(async () => {
      await containerd?.stop();
    });

    it("ctr images pull --user oidc:<JWT> (POST /token password grant), refused outside the rules", async () => {
      const token = issuer.sign(JOB);
      const ref = `${host}/anon/${ctrImage.repo}:${ctrImage.tag}`;
      const pull = await containerd.ctr(["images", "pull", "--plain-http", "--user", `oidc:${token}`, ref]);
      expect(pull.code, explain("ctr images pull", pull)).toBe(0);
      const ls = await containerd.ctr(["images", "ls"]);
      expect(ls.stdout.split("\n").find((line) => line.startsWith(`${ref} `))).toContain(ctrImage.top.digest);
      const refused = await containerd.ctr(
        [
          "images",
          "pull",
          "--plain-http",
          "--user",
          `oidc:${token}`,
          `${host}/anon/${anon.repo}:${anon.tag}`,
        ],
        60_000,
      );
      expect(refused.code).not.toBe(0);
      expect(`${refused.stdout}${refused.stderr}`).toMatch(/403|denied/i);
    });
  });

  it("the Kubernetes credential provider turns a pod's service-account token into credentials that pull", async () => {
    const saToken = issuer.sign(POD, { lifetime: 3600 });
    const request = {
      apiVersion: "credentialprovider.kubelet.k8s.io/v1",
      kind: "CredentialProviderRequest",
      image: `${host}/anon/${anon.repo}:${anon.tag}`,
      serviceAccountToken: saToken,
      serviceAccountAnnotations: {},
    };
    const provider = join(b.repoRoot, "scripts", "kubernetes", "mirror-credential-provider");
    const r = await run("sh", ["-c", `printf '%s' '${JSON.stringify(request)}' | ${provider}`], {
      timeoutMs: 10_000,
    });
    expect(r.code, r.stderr).toBe(0);
    const answer = JSON.parse(r.stdout) as { auth: Record<string, { username: string; password: string }> };
    const creds = answer.auth[host];
    expect(creds?.username).toBe("oidc");
    const { r: pull, dest } = await skopeoPull(
      `anon/${anon.repo}:${anon.tag}`,
      `${creds?.username}:${creds?.password}`,
    );
    expect(pull.code, explain("skopeo copy", pull)).toBe(0);
    expectSingleCopy(await readDir(dest), anon);
    // The pod's rule does not reach the job's repositories.
    const refused = await skopeoPull(`anon/${app.repo}:${app.tag}`, `oidc:${saToken}`);
    expect(refused.r.code).not.toBe(0);
  });

  it("audits who pulled (oidc:<issuer>:<sub> and the matched claims); no token in the log", async () => {
    const pulls = logEvents(mirror.process.output(), "pull").filter((entry) => entry.status === 200);
    expect(pulls.some((entry) => entry.user === `oidc:ci:${JOB.sub}`)).toBe(true);
    const job = pulls.find((entry) => entry.user === `oidc:ci:${JOB.sub}`);
    expect(job?.claims).toEqual({ repository_owner: "acme", ref: "refs/heads/main" });
    expect(pulls.some((entry) => entry.user === `oidc:ci:${POD.sub}`)).toBe(true);
    const signature = issuer.sign(JOB).split(".")[2] ?? "";
    expect(mirror.process.output()).not.toContain(signature);
  });
});

describe("refusals against the real issuer", () => {
  const ping = (authorization: string) =>
    fetchT(`${mirror.url}/v2/`, { headers: { authorization } }).then(async (response) => {
      await response.arrayBuffer();
      return response;
    });

  // Five, with the two refusals below: under the login throttle's ten failures a minute per address
  // (every client here is 127.0.0.1). The unit specs flood a hundred.
  it("a flood of unknown kids: every token refused, the issuer's JWKS fetched at most once more", async () => {
    const before = issuer.jwksFetches();
    failuresSince = Date.now();
    for (let index = 0; index < 5; index++) {
      const response = await ping(`Bearer ${issuer.sign(JOB, { kid: `random-${randomUUID()}` })}`);
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe(
        `Bearer realm="http://${host}/token",service="${host}"`,
      );
    }
    expect(issuer.jwksFetches() - before).toBeLessThanOrEqual(1);
    expect(refusals().filter((line) => line.check === "unknown_key")).toHaveLength(5);
  });

  it("a wrong audience and a token matching no rule are refused, each check named in the log", async () => {
    const wrongAudience = await ping(`Bearer ${issuer.sign({ ...JOB, aud: "https://other.e2e" })}`);
    const noRule = await ping(`Bearer ${issuer.sign({ ...JOB, repository_owner: "mallory" })}`);
    expect([wrongAudience.status, noRule.status]).toEqual([401, 401]);
    const checks = refusals().map((line) => line.check);
    expect(checks).toContain("audience");
    expect(checks).toContain("no_rule");
  });
});

describe("key rotation mid-run", () => {
  it("a token signed by a newly published key is accepted after one JWKS refetch; the withdrawn key's are refused", async () => {
    // The mirror asks the issuer at most once a minute: wait out the minute since its last fetch (and
    // the throttle's minute since the refusals above).
    const lastFetch = issuer.served.filter((entry) => entry.path === "/keys").at(-1)?.at ?? 0;
    await sleep(Math.max(0, lastFetch + 61_000 - Date.now(), failuresSince + 61_000 - Date.now()));
    const rotated = makeOidcKey("rsa-2", "RS256");
    issuer.published = [rotated, issuer.ec];
    const before = issuer.jwksFetches();
    const { r, dest } = await skopeoPull(
      `anon/${app.repo}:${app.tag}`,
      `oidc:${issuer.sign(JOB, { key: rotated })}`,
    );
    expect(r.code, explain("skopeo copy", r)).toBe(0);
    expectSingleCopy(await readDir(dest), app);
    expect(issuer.jwksFetches() - before).toBe(1);
    const old = await skopeoPull(`anon/${app.repo}:${app.tag}`, `oidc:${issuer.sign(JOB)}`);
    expect(old.r.code).not.toBe(0);
  });
});

describe("expiry", () => {
  it("an expired token is refused, and the mirror token it produced earlier expires with it", async () => {
    // The EC key: the RSA key the issuer started with was withdrawn above.
    const token = issuer.sign(JOB, { key: issuer.ec, lifetime: 8 });
    const exp = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()).exp as number;
    const login = await fetchT(`${mirror.url}/token?service=${host}`, {
      headers: {
        authorization: `Basic ${Buffer.from(`oidc:${token}`).toString("base64")}`,
      },
    });
    expect(login.status).toBe(200);
    const { token: mirrorToken, expires_in } = (await login.json()) as { token: string; expires_in: number };
    expect(expires_in).toBeLessThanOrEqual(8);
    const manifest = (authorization: string) =>
      fetchT(`${mirror.url}/v2/anon/${app.repo}/manifests/${app.tag}`, {
        headers: { authorization, accept: ACCEPT_ALL },
      }).then(async (response) => {
        await response.arrayBuffer();
        return response.status;
      });
    expect(await manifest(`Bearer ${mirrorToken}`)).toBe(200);

    await sleep(Math.max(0, exp * 1000 + 1000 - Date.now()));
    expect(await manifest(`Bearer ${mirrorToken}`)).toBe(401);
    expect(await manifest(`Bearer ${token}`)).toBe(401);
    const { r } = await skopeoPull(`anon/${app.repo}:${app.tag}`, `oidc:${token}`);
    expect(r.code).not.toBe(0);
    expect(refusals().some((line) => line.check === "expired")).toBe(true);
  });
});
