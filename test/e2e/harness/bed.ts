// Assembles the whole test bed: token server, registry faces on one storage, look-alikes, counting
// proxies, images, the relay and the mirror. Runs in vitest's globalSetup; tests get a BedInfo.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AdminClient, type AdminServer, startAdmin } from "./admin.ts";
import { CATALOG, type ImageKey } from "./catalog.ts";
import { RequestCounter } from "./counting.ts";
import { type RunningProxy, startCountingProxy } from "./counting-proxy.ts";
import { FaultTable } from "./faults.ts";
import { buildImage, GENERATOR_VERSION } from "./images.ts";
import { type Cdn, HubQuota, redirectBlobs, startCdn } from "./lookalikes.ts";
import { type Mirror, startMirror, type UpstreamConfig } from "./mirror.ts";
import { deadPort } from "./net.ts";
import { oci11 } from "./oci11.ts";
import { killAllNow } from "./processes.ts";
import { type ExpectedImage, pushImage } from "./push.ts";
import { type Face, startFace, writeHtpasswd } from "./registry.ts";
import { type Relay, startRelay } from "./relay.ts";
import { makeContainersEnv } from "./skopeo-env.ts";
import { ISSUER, makeSigningKey, startTokenServer, type TokenServer } from "./token-server.ts";

export const USER = { username: "alice", password: "wonderland-7" };
/** A second account of the Hub look-alike's token server, for a pool of accounts. */
export const POOL_USER = { username: "bob", password: "builder-9-pool" };

/** Prefix → which proxy (and so which face) it reaches. Count names are the proxy names. */
export const PREFIXES = [
  "hub",
  "quay",
  "anon",
  "basic",
  "token",
  "token-anon",
  "fresh",
  "ttl",
  "oci11",
] as const;
export type Prefix = (typeof PREFIXES)[number];

/** Serializable description handed to the test files (vitest `provide`/`inject`). */
export interface BedInfo {
  repoRoot: string;
  workDir: string;
  /**
   * What clients talk to: wrangler dev itself, or the TLS-closing relay in front of it when
   * E2E_RELAY=1 (see relay.ts; wrangler 4.164 answers a TLS ClientHello at once, so not needed now).
   */
  mirrorUrl: string;
  mirrorHost: string;
  /** wrangler dev itself (plain HTTP). */
  mirrorDirectUrl: string;
  adminUrl: string;
  /** Upstream proxies by prefix name (direct access for self-tests). */
  upstreams: Record<Prefix, { url: string; config: UpstreamConfig; credentials: boolean }>;
  faces: Record<string, string>;
  cdnPort: number;
  /** A loopback port where nothing listens: the "primary" registry of client configs. */
  deadPort: number;
  images: Record<ImageKey, ExpectedImage>;
  user: typeof USER;
  /** The second account the token server knows (a pool of two with `user`). */
  poolUser: typeof USER;
}

export interface Bed {
  info: BedInfo;
  admin: AdminClient;
  stop(): Promise<void>;
}

/**
 * Whether the Worker's configuration schema knows an UPSTREAMS field. The schema is strict (unknown
 * fields are errors), so optional settings are only sent to a Worker that understands them.
 */
function catalogHash(): string {
  return createHash("sha256")
    .update(JSON.stringify({ GENERATOR_VERSION, CATALOG, storage: 1 }))
    .digest("hex")
    .slice(0, 12);
}

export async function startBed(repoRoot: string, log: (msg: string) => void = () => {}): Promise<Bed> {
  const workDir = join(repoRoot, ".e2e-work");
  const runDir = join(workDir, "last-run");
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  const closers: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const c of closers.reverse()) await c().catch(() => {});
    killAllNow();
  };
  try {
    const t0 = Date.now();
    const counter = new RequestCounter();
    const faults = new FaultTable();
    const key = await makeSigningKey(runDir);
    const tokens: TokenServer = await startTokenServer({
      key,
      counter,
      users: { [USER.username]: USER.password, [POOL_USER.username]: POOL_USER.password },
      privatePrefix: "private/",
    });
    closers.push(tokens.close);
    const htpasswd = join(runDir, "htpasswd");
    await writeHtpasswd(htpasswd, USER.username, USER.password);

    const storage = join(workDir, `storage-${catalogHash()}`);
    const face = async (name: string, auth: Parameters<typeof startFace>[3]): Promise<Face> => {
      const f = await startFace(name, storage, join(runDir, "faces"), auth, runDir);
      closers.push(() => f.process.stop());
      return f;
    };
    const token = (realmFace: string, service: string) =>
      ({
        kind: "token",
        realm: tokens.realm(realmFace),
        service,
        issuer: ISSUER,
        rootCertBundle: key.certFile,
      }) as const;
    const [anonFace, basicFace, tokenFace, quayFace, hubFace] = await Promise.all([
      face("anon", { kind: "anonymous" }),
      face("basic", { kind: "basic", htpasswdFile: htpasswd }),
      face("token", token("token", "token.e2e")),
      face("quay", token("quay", "quay.e2e")),
      // Docker Hub's realm and service differ from the registry's host name.
      face("hub", token("hub", "registry.docker.io")),
    ]);
    log(`registries up in ${Date.now() - t0} ms`);

    const images = await ensureImages(
      storage,
      join(workDir, "images"),
      anonFace.url,
      join(runDir, "push"),
      log,
    );

    const cdn: Cdn = await startCdn(counter, anonFace.url);
    closers.push(cdn.close);
    const proxy = async (
      name: string,
      f: Face,
      intercept?: Parameters<typeof startCountingProxy>[0]["intercept"],
    ) => {
      const p: RunningProxy = await startCountingProxy({ name, target: f.url, counter, faults, intercept });
      closers.push(p.close);
      return p;
    };
    const hubQuota = new HubQuota();
    const proxies: Record<Prefix, RunningProxy> = {
      hub: await proxy("hub", hubFace, hubQuota.intercept(redirectBlobs(cdn, "hub", "hub"))),
      quay: await proxy("quay", quayFace, redirectBlobs(cdn, "quay", "quay")),
      anon: await proxy("anon", anonFace),
      basic: await proxy("basic", basicFace),
      token: await proxy("token", tokenFace),
      "token-anon": await proxy("token-anon", tokenFace),
      fresh: await proxy("fresh", anonFace),
      ttl: await proxy("ttl", anonFace),
      // The anonymous face as an OCI 1.1 registry: referrers API and tag paging (harness/oci11.ts).
      oci11: await proxy("oci11", anonFace, oci11()),
    };
    const configs: Record<Prefix, UpstreamConfig> = {
      hub: {
        url: proxies.hub.url,
        library: true,
        hosts: ["docker.io", "registry-1.docker.io", "index.docker.io"],
        tagTtl: 3600,
      },
      quay: { url: proxies.quay.url, hosts: ["quay.io"], tagTtl: 3600 },
      anon: { url: proxies.anon.url, hosts: ["anon.e2e"], tagTtl: 3600 },
      basic: { url: proxies.basic.url, hosts: ["basic.e2e"], tagTtl: 3600 },
      token: { url: proxies.token.url, hosts: ["token.e2e"], tagTtl: 3600 },
      "token-anon": { url: proxies["token-anon"].url, hosts: ["token-anon.e2e"], tagTtl: 3600 },
      // Always revalidates, and gives up on a silent upstream after 3 s (fault-injection tests).
      fresh: { url: proxies.fresh.url, hosts: ["fresh.e2e"], tagTtl: 0, timeout: 3 },
      // Fresh for 2 s, then revalidated (tests wait the TTL out).
      ttl: { url: proxies.ttl.url, hosts: ["ttl.e2e"], tagTtl: 2 },
      oci11: { url: proxies.oci11.url, hosts: ["oci11.e2e"], tagTtl: 3600 },
    };
    const withCreds: Prefix[] = ["hub", "basic", "token"];
    // The mirror refuses upstream credentials that no client authentication protects unless told that
    // anyone may pull through them; this bed's clients are anonymous.
    for (const p of withCreds) configs[p].shareCredentials = true;

    const mirror: Mirror = await startMirror({
      repoRoot,
      upstreams: configs,
      defaultUpstream: "hub",
      credentials: Object.fromEntries(withCreds.map((p) => [p, USER])),
      logFile: join(runDir, "wrangler.log"),
    });
    closers.push(async () => {
      // wrangler dev watches src/: an edit during the run rebuilds the Worker and cuts open responses.
      if (mirror.process.output().includes("Reloading local server")) {
        log("WARNING: src/ changed during the run and wrangler reloaded the Worker; results mix versions");
      }
      await mirror.stop();
    });
    let relay: Relay | undefined;
    if (process.env.E2E_RELAY === "1") {
      relay = await startRelay(mirror.port);
      closers.push(relay.close);
    }
    const front = `127.0.0.1:${relay?.port ?? mirror.port}`;
    const admin: AdminServer = await startAdmin({
      counter,
      faults,
      relay,
      hubQuota,
      mirrorOutput: () => mirror.process.output(),
    });
    closers.push(admin.close);
    log(`test bed up in ${Date.now() - t0} ms (mirror ${mirror.url}${relay ? `, relay ${relay.port}` : ""})`);

    const upstreams = Object.fromEntries(
      PREFIXES.map((p) => [
        p,
        { url: proxies[p].url, config: configs[p], credentials: withCreds.includes(p) },
      ]),
    ) as BedInfo["upstreams"];
    const info: BedInfo = {
      repoRoot,
      workDir: runDir,
      mirrorUrl: `http://${front}`,
      mirrorHost: front,
      mirrorDirectUrl: mirror.url,
      adminUrl: admin.url,
      upstreams,
      faces: Object.fromEntries(
        [anonFace, basicFace, tokenFace, quayFace, hubFace].map((f) => [f.name, f.url]),
      ),
      cdnPort: cdn.port,
      deadPort: await deadPort(),
      images,
      user: USER,
      poolUser: POOL_USER,
    };
    return { info, admin: new AdminClient(admin.url), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Builds and pushes the catalog once per storage version; later runs reuse storage and digests. */
async function ensureImages(
  storage: string,
  cacheDir: string,
  anonUrl: string,
  pushDir: string,
  log: (msg: string) => void,
): Promise<Record<ImageKey, ExpectedImage>> {
  const marker = join(storage, "e2e-expected.json");
  if (existsSync(marker)) return JSON.parse(readFileSync(marker, "utf8")) as Record<ImageKey, ExpectedImage>;
  const t0 = Date.now();
  const env = makeContainersEnv(pushDir);
  const out: Partial<Record<ImageKey, ExpectedImage>> = {};
  for (const [k, spec] of Object.entries(CATALOG) as [ImageKey, (typeof CATALOG)[ImageKey]][]) {
    const built = await buildImage({ ...spec, platforms: [...spec.platforms] }, cacheDir);
    out[k] = await pushImage(built, anonUrl, env);
  }
  writeFileSync(marker, JSON.stringify(out, null, 2));
  log(`images built and pushed in ${Date.now() - t0} ms`);
  return out as Record<ImageKey, ExpectedImage>;
}
