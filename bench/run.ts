// `npm run bench`: the mirror side by side with a direct pull and with CNCF distribution in proxy mode,
// on the e2e test bed (loopback only; real registry, skopeo, wrangler dev). Prints the figures and
// writes bench/results/latest.json, docs/BENCHMARKS.md and docs/benchmarks.svg.
// Figures are recorded, never asserted.
//
// `npm run bench -- --quick`: one repetition of everything (development; figures are noisier).
// Settings (environment, over the defaults and --quick): BENCH_REPS (pull repetitions, default 3),
// BENCH_WARM (direct and warm pulls per repetition, default 3), BENCH_MEM_REPS (1 GiB repetitions,
// default 1), BENCH_MEM_CLIENTS (clients of the cold 1 GiB fan-out, default 20; 0 or 1 skips it),
// BENCH_PHASES (comma list of pulls,counts,free,memory,cpuprofile; default all), BENCH_OUT (root for results
// and docs; default this repository), BENCH_MAX_MINUTES (watchdog, default 30).
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join, relative, resolve } from "node:path";
import { RequestCounter } from "../test/e2e/harness/counting.ts";
import { startCountingProxy } from "../test/e2e/harness/counting-proxy.ts";
import { type Mirror, type MirrorOptions, startMirror } from "../test/e2e/harness/mirror.ts";
import { fetchT, freePort, HOST, sleep } from "../test/e2e/harness/net.ts";
import { killAllNow, onExit } from "../test/e2e/harness/processes.ts";
import { ACCEPT_ALL, type ExpectedImage } from "../test/e2e/harness/push.ts";
import { startFace } from "../test/e2e/harness/registry.ts";
import { makeContainersEnv } from "../test/e2e/harness/skopeo-env.ts";
import { ISSUER, makeSigningKey, startTokenServer } from "../test/e2e/harness/token-server.ts";
import { blobsOf, ensureBenchImages, imageBytes, storageDir } from "./lib/catalog.ts";
import { renderSvg } from "./lib/chart.ts";
import type { BenchContext, ProbedMirror } from "./lib/context.ts";
import { type ScenarioCounts, snapshot } from "./lib/counts.ts";
import { moduleLocator, startCpuProfile, summarize } from "./lib/cpu-profile.ts";
import { startDistProxy } from "./lib/dist-proxy.ts";
import { freePlanPhase } from "./lib/free-plan-phase.ts";
import { evaluateGoals } from "./lib/goals.ts";
import { connectInspector } from "./lib/inspector.ts";
import {
  type BlobTiming,
  curlGet,
  pullToken,
  round,
  stats,
  timedBlobGet,
  timedPull,
  waitForHits,
} from "./lib/measure.ts";
import { memoryPhase } from "./lib/memory-phase.ts";
import { platformPhase } from "./lib/platform-phase.ts";
import { type ProfileEntry, parseWranglerLog, summarizeProfile } from "./lib/profile.ts";
import { type ReferenceMode, type ReferenceWorker, startReferenceWorker } from "./lib/reference.ts";
import { renderMarkdown, renderText } from "./lib/report.ts";
import {
  type BenchResult,
  FOLLOW_ON_GAP_SECONDS,
  type PullImage,
  SYSTEMS,
  type System,
} from "./lib/result.ts";
import { cpuSecondsOf, cpuSecondsOfAll, groupMembers, type ProcInfo } from "./lib/rss.ts";

const repoRoot = resolve(import.meta.dirname, "..");
const outRoot = resolve(process.env.BENCH_OUT ?? repoRoot);
const QUICK = process.argv.includes("--quick");
const REPS = Number(process.env.BENCH_REPS ?? (QUICK ? 1 : 3));
const WARM = Number(process.env.BENCH_WARM ?? (QUICK ? 1 : 3));
const MEM_REPS = Number(process.env.BENCH_MEM_REPS ?? 1);
const MEM_CLIENTS = Number(process.env.BENCH_MEM_CLIENTS ?? 20);
/** The admin token of the mirrors that count operations (loopback only). */
const ADMIN_TOKEN = "bench-admin-token";
const PHASES = new Set((process.env.BENCH_PHASES ?? "pulls,counts,free,memory,cpuprofile").split(","));
const MAX_MINUTES = Number(process.env.BENCH_MAX_MINUTES ?? 30);
/** tagTtl of the mirror prefix used for the "after TTL expiry" count. */
const SHORT_TTL = 12;
const CONCURRENCY = 20;
const PULL_IMAGES: PullImage[] = ["big", "many"];

/**
 * For a profile's frame, the module of the bundle it belongs to. The profile names the bundle only by
 * file name; wrangler keeps it under .wrangler/tmp while it runs.
 */
const locate = moduleLocator((name) => {
  const tmp = join(repoRoot, ".wrangler", "tmp");
  const dirs = readdirSync(tmp)
    .map((d) => join(tmp, d))
    .filter((d) => existsSync(join(d, name)))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return join(dirs[0] ?? tmp, name);
});

const t0 = Date.now();
const log = (msg: string): void => {
  console.log(`[bench ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}`);
};

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
      .trim()
      .split("\n")[0] as string;
  } catch {
    return "unknown";
  }
}

function pkgVersion(name: string): string {
  try {
    const pkg = JSON.parse(readFileSync(join(repoRoot, "node_modules", name, "package.json"), "utf8"));
    return String(pkg.version);
  } catch {
    return "unknown";
  }
}

/** A process's command line, shortened (which workerd is which). */
function processArgs(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").slice(0, 160);
  } catch {
    return "";
  }
}

function machineInfo(): BenchResult["machine"] {
  const osRelease = existsSync("/etc/os-release") ? readFileSync("/etc/os-release", "utf8") : "";
  const git = (args: string[]): string => version("git", ["-C", repoRoot, ...args]);
  return {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    memoryMiB: Math.round(totalmem() / 2 ** 20),
    kernel: release(),
    os: /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? "unknown",
    node: process.version,
    wrangler: pkgVersion("wrangler"),
    workerd: pkgVersion("workerd"),
    skopeo: version("skopeo", ["--version"]),
    distribution: version("/usr/bin/docker-registry", ["--version"]),
    curl: version("curl", ["--version"]),
    commit: git(["rev-parse", "--short", "HEAD"]),
    dirty: git(["status", "--porcelain", "--", "src"]) !== "",
  };
}

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    console.error(`[bench] watchdog: still running after ${MAX_MINUTES} min, stopping everything`);
    killAllNow();
    process.exit(3);
  }, MAX_MINUTES * 60_000);
  watchdog.unref();
  const startedAt = new Date();
  const loadAtStart = loadavg()[0] ?? 0;
  if (loadAtStart > 0.7)
    log(`WARNING: load average ${loadAtStart.toFixed(2)}: other work on this machine skews the figures`);
  const workDir = join(repoRoot, ".e2e-work", "bench");
  const runDir = join(workDir, "last-run");
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  // Pulled images land on tmpfs when there is one: the disk's write-back noise stays out of the figures.
  const scratchBase = existsSync("/dev/shm") ? "/dev/shm" : runDir;
  const scratch = mkdtempSync(join(scratchBase, "bench-pulls-"));
  onExit(() => rmSync(scratch, { recursive: true, force: true }));

  const closers: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const c of closers.reverse()) await c().catch(() => {});
    closers.length = 0;
  };
  try {
    // ------------------------------------------------------------------ upstream
    const counter = new RequestCounter();
    const key = await makeSigningKey(runDir);
    const tokens = await startTokenServer({ key, counter, users: {}, privatePrefix: "private/" });
    closers.push(tokens.close);
    const storage = storageDir(workDir);
    const faceDir = join(runDir, "faces");
    // Pushes go through an anonymous face; pulls through a token face on the same storage (registries
    // such as Docker Hub make every client fetch a token first).
    const pushFace = await startFace("push", storage, faceDir, { kind: "anonymous" }, runDir);
    closers.push(() => pushFace.process.stop());
    const tokenFace = await startFace(
      "upstream",
      storage,
      faceDir,
      {
        kind: "token",
        realm: tokens.realm("upstream"),
        service: "bench.upstream",
        issuer: ISSUER,
        rootCertBundle: key.certFile,
      },
      runDir,
    );
    closers.push(() => tokenFace.process.stop());
    const images = await ensureBenchImages(storage, workDir, pushFace.url, log);
    // Both caches (and the reference Worker) reach the upstream through this counting proxy. "direct"
    // pulls go to the registry itself; "direct via counting proxy" shows what the proxy alone costs.
    const upstream = await startCountingProxy({ name: "upstream", target: tokenFace.url, counter });
    closers.push(upstream.close);
    const upstreamHost = `${HOST}:${upstream.port}`;
    const registryHost = `${HOST}:${tokenFace.port}`;
    const env = makeContainersEnv(join(runDir, "skopeo"));
    log(`upstream ${upstream.url} (token auth, counting proxy); pulls to ${scratch}`);

    let mirrorCount = 0;
    const mirrorOptions = (logFile: string): MirrorOptions => ({
      repoRoot,
      upstreams: {
        up: { url: upstream.url, tagTtl: 3600 },
        ttl: { url: upstream.url, tagTtl: SHORT_TTL },
      },
      defaultUpstream: "up",
      credentials: {},
      // Extra Worker variables for experiments, e.g. BENCH_MIRROR_VARS='{"MULTIPART_THRESHOLD":"8388608"}'.
      vars: JSON.parse(process.env.BENCH_MIRROR_VARS ?? "{}") as Record<string, string>,
      logFile,
    });
    const freshMirror = async (label: string): Promise<{ mirror: Mirror; logFile: string }> => {
      const logFile = join(runDir, `wrangler-${++mirrorCount}-${label}.log`);
      const t = Date.now();
      const mirror = await startMirror(mirrorOptions(logFile));
      closers.push(() => mirror.stop());
      log(`mirror (${label}) up on ${mirror.url} in ${Date.now() - t} ms`);
      return { mirror, logFile };
    };
    const stopMirror = async (m: Mirror): Promise<void> => {
      if (m.process.output().includes("Reloading local server")) {
        log("WARNING: wrangler reloaded the Worker during the run (src/ changed); figures mix versions");
      }
      await m.stop();
    };
    const freshDist = async (label: string) => {
      const d = await startDistProxy(upstream.url, join(runDir, "dist"), join(runDir, `dist-${label}.log`));
      closers.push(() => d.stop());
      return d;
    };
    const mirrorRef = (m: Mirror, img: ExpectedImage, prefix = "up") =>
      `${HOST}:${m.port}/${prefix}/${img.repo}:${img.tag}`;
    const mirrorBlobUrl =
      (m: Mirror, img: ExpectedImage, prefix = "up") =>
      (digest: string) =>
        `${m.url}/v2/${prefix}/${img.repo}/blobs/${digest}`;
    const ref = (host: string, img: ExpectedImage) => `${host}/${img.repo}:${img.tag}`;
    const dest = (name: string) => join(scratch, name);
    /** GET the manifest (base is a registry root, or the mirror root plus its prefix). */
    const getManifest = async (base: string, img: ExpectedImage): Promise<void> => {
      const url = `${base}/${img.repo}/manifests/${img.tag}`;
      const res = await fetchT(url, { headers: { accept: ACCEPT_ALL } });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
    };
    const ttfbLayer = blobsOf(images.ttfb).at(-1)?.digest ?? "";
    /** A mirror that counts its platform operations (GET /_/ops), with the inspector attached. */
    const probedMirror = async (label: string, vars: Record<string, string> = {}): Promise<ProbedMirror> => {
      const logFile = join(runDir, `wrangler-${++mirrorCount}-${label}.log`);
      const inspectorPort = await freePort();
      const t = Date.now();
      const base = mirrorOptions(logFile);
      const mirror = await startMirror({
        ...base,
        vars: { ...base.vars, ...vars, OP_COUNTERS: "on", ADMIN_TOKEN },
        extraArgs: ["--inspector-port", String(inspectorPort)],
      });
      closers.push(() => mirror.stop());
      const inspector = await connectInspector(inspectorPort);
      closers.push(async () => inspector.close());
      log(`mirror (${label}, counters and inspector) up on ${mirror.url} in ${Date.now() - t} ms`);
      return { mirror, inspector, adminToken: ADMIN_TOKEN, logFile };
    };
    /** The reference Worker: what wrangler dev costs any Worker (see bench/reference-worker). */
    const referenceWorker = async (label: string, mode?: ReferenceMode): Promise<ReferenceWorker> => {
      const t = Date.now();
      const w = await startReferenceWorker({
        repoRoot,
        upstreamUrl: upstream.url,
        logFile: join(runDir, `wrangler-reference-${label}.log`),
        mode,
      });
      closers.push(() => w.stop());
      log(`reference Worker (${label}) up on ${w.url} in ${Date.now() - t} ms`);
      return w;
    };
    const ctx: BenchContext = {
      env,
      counter,
      images,
      log,
      runDir,
      dest,
      probedMirror,
      stopMirror: async (pm) => {
        pm.inspector.close();
        await stopMirror(pm.mirror);
      },
      referenceWorker,
      upstreamToken: (repo) => pullToken(tokenFace.url, repo),
      mirrorRef,
      mirrorBlobUrl,
      getManifest,
    };

    // Warm the upstream's page cache (and skopeo's binary) before anything is timed.
    for (const k of ["big", "many", "fanout", "ttfb"] as const) {
      await timedPull(env, ref(upstreamHost, images[k]), dest("warmup"));
    }
    log("warm-up pulls done");

    const result: BenchResult = {
      schema: 2,
      startedAt: startedAt.toISOString(),
      finishedAt: "",
      durationSeconds: 0,
      machine: machineInfo(),
      settings: {
        reps: REPS,
        warmPerRep: WARM,
        memoryReps: MEM_REPS,
        memoryClients: MEM_CLIENTS,
        quick: QUICK,
        shortTagTtlSeconds: SHORT_TTL,
        concurrency: CONCURRENCY,
        phases: [...PHASES],
        images: Object.fromEntries(
          Object.entries(images).map(([k, img]) => [
            k,
            { repo: img.repo, bytes: imageBytes(img), blobs: blobsOf(img).length, format: img.format },
          ]),
        ),
      },
      pulls: undefined,
      ttfb: undefined,
      upstream: undefined,
      platform: undefined,
      memory: undefined,
      profile: undefined,
      goals: [],
    };

    // ------------------------------------------------------------------ pulls and time to first byte
    if (PHASES.has("pulls")) {
      const samples: Record<PullImage, Record<System, number[]>> = {
        big: Object.fromEntries(SYSTEMS.map((s) => [s, []])) as unknown as Record<System, number[]>,
        many: Object.fromEntries(SYSTEMS.map((s) => [s, []])) as unknown as Record<System, number[]>,
      };
      const settle: Record<PullImage, number[]> = { big: [], many: [] };
      const ttfb: Record<
        "direct" | "mirror" | "dist" | "passThrough" | "mirrorFirst" | "distFirst" | "coordinated",
        BlobTiming[]
      > = {
        direct: [],
        mirror: [],
        dist: [],
        passThrough: [],
        mirrorFirst: [],
        distFirst: [],
        coordinated: [],
      };
      // A client reads an image's config before its layers: the first blob a fresh process serves pays
      // its start-up (under wrangler dev the fill objects' first instance, the local stores' first use),
      // and the layer after it is what a running mirror's cold blob costs. Both are reported.
      const ttfbConfig = blobsOf(images.ttfb)[0]?.digest ?? "";
      const pullCounts: Partial<Record<`${PullImage}-${System}`, ScenarioCounts>> = {};
      const profile: Record<string, ProfileEntry[]> = {};
      const cpu: Record<string, number[]> = {};
      const addCpu = (key: string, seconds: number): void => {
        cpu[key] = [...(cpu[key] ?? []), seconds];
      };
      /** One timed pull; with `server`, also the CPU seconds those processes used meanwhile. */
      const sample = async (
        img: PullImage,
        system: System,
        refStr: string,
        server?: ProcInfo[],
      ): Promise<number> => {
        counter.reset();
        const c0 = server ? cpuSecondsOfAll(server) : 0;
        const s = await timedPull(env, refStr, dest(`${img}-${system}`));
        samples[img][system].push(s);
        pullCounts[`${img}-${system}`] ??= snapshot(counter);
        let note = "";
        if (server) {
          const used = cpuSecondsOfAll(server) - c0;
          addCpu(`${img}-${system}`, used);
          note = `, server CPU ${used.toFixed(2)} s`;
        }
        log(`  ${img.padEnd(4)} ${system.padEnd(10)} ${s.toFixed(2)} s${note}`);
        return s;
      };

      // A Worker under wrangler dev that only forwards to the upstream (through the counting proxy, as the
      // mirror): what any Worker in the path costs a pull under wrangler dev.
      const passThrough = await referenceWorker("pulls");
      const passWorkerd = groupMembers(passThrough.process.pid).filter((p) => p.comm.startsWith("workerd"));
      for (let rep = 0; rep < REPS; rep++) {
        log(`pulls: repetition ${rep + 1}/${REPS}`);
        const registry = [{ pid: tokenFace.process.pid, comm: "registry" }];
        for (const img of PULL_IMAGES) {
          for (let w = 0; w < WARM; w++)
            await sample(img, "direct", ref(registryHost, images[img]), registry);
          await sample(img, "viaProxy", ref(upstreamHost, images[img]));
          for (let w = 0; w < WARM; w++)
            await sample(img, "passThrough", ref(`${HOST}:${passThrough.port}`, images[img]), passWorkerd);
        }
        const token = await pullToken(tokenFace.url, images.ttfb.repo);
        ttfb.direct.push(
          await timedBlobGet(`${tokenFace.url}/v2/${images.ttfb.repo}/blobs/${ttfbLayer}`, token),
        );
        // What any Worker in the path costs the first byte here: one that only forwards the GET.
        ttfb.passThrough.push(
          await timedBlobGet(
            `http://${HOST}:${passThrough.port}/v2/${images.ttfb.repo}/blobs/${ttfbLayer}`,
            token,
          ),
        );

        const viaMirror = async (): Promise<void> => {
          const { mirror, logFile } = await freshMirror(`pulls-${rep + 1}`);
          // A client reads the manifest first (the mirror fetches its upstream token then).
          await getManifest(`${mirror.url}/v2/up`, images.ttfb);
          ttfb.mirrorFirst.push(await timedBlobGet(mirrorBlobUrl(mirror, images.ttfb)(ttfbConfig)));
          const workerd = groupMembers(mirror.process.pid).filter((p) => p.comm.startsWith("workerd"));
          const c0 = cpuSecondsOfAll(workerd);
          const t = await timedBlobGet(mirrorBlobUrl(mirror, images.ttfb)(ttfbLayer));
          ttfb.mirror.push(t);
          addCpu("ttfb-mirrorCold", cpuSecondsOfAll(workerd) - c0);
          log(
            `  ttfb mirror first byte ${t.firstByte.toFixed(3)} s, whole ${t.total.toFixed(2)} s (${t.cache})`,
          );
          for (const img of PULL_IMAGES) {
            const before = statSync(logFile).size;
            await sample(img, "mirrorCold", mirrorRef(mirror, images[img]), workerd);
            if (rep === 0) profile[`${img}-mirrorCold`] = parseWranglerLog(logFile, before);
            // Follow-on: the same pull again shortly after, while the uploads to R2 may still run.
            await sleep(FOLLOW_ON_GAP_SECONDS * 1000);
            const bf = statSync(logFile).size;
            await sample(img, "mirrorFollow", mirrorRef(mirror, images[img]), workerd);
            if (rep === 0) profile[`${img}-mirrorFollow`] = parseWranglerLog(logFile, bf);
            const waited = await waitForHits(
              mirrorBlobUrl(mirror, images[img]),
              blobsOf(images[img]).map((b) => b.digest),
            );
            settle[img].push(waited);
            for (let w = 0; w < WARM; w++) {
              const b = statSync(logFile).size;
              await sample(img, "mirrorWarm", mirrorRef(mirror, images[img]), workerd);
              if (rep === 0 && w === WARM - 1) profile[`${img}-mirrorWarm`] = parseWranglerLog(logFile, b);
            }
          }
          await stopMirror(mirror);
        };
        const viaDist = async (): Promise<void> => {
          const d = await freshDist(`pulls-${rep + 1}`);
          const server = [{ pid: d.process.pid, comm: "registry" }];
          await getManifest(`${d.url}/v2`, images.ttfb);
          ttfb.distFirst.push(await timedBlobGet(`${d.url}/v2/${images.ttfb.repo}/blobs/${ttfbConfig}`));
          const c0 = cpuSecondsOfAll(server);
          ttfb.dist.push(await timedBlobGet(`${d.url}/v2/${images.ttfb.repo}/blobs/${ttfbLayer}`));
          addCpu("ttfb-distCold", cpuSecondsOfAll(server) - c0);
          for (const img of PULL_IMAGES) {
            await sample(img, "distCold", ref(d.host, images[img]), server);
            await sleep(FOLLOW_ON_GAP_SECONDS * 1000);
            await sample(img, "distFollow", ref(d.host, images[img]), server);
            for (let w = 0; w < WARM; w++) await sample(img, "distWarm", ref(d.host, images[img]), server);
          }
          await d.stop();
        };
        // A Worker that caches with no policy: what a cold, a follow-on and a warm pull cost any caching
        // Worker under wrangler dev. Fresh storage each repetition. Its follow-on reads R2 (the put ends
        // with the client's stream) and fills the Cache API, which its warm pulls then read. Audited, the
        // same Worker writes one log line per request as the mirror does (what that line costs here);
        // coordinated, it also fills each cold blob in a Durable Object per digest that logs the fill
        // (what one upstream GET per blob and a fill's log line cost any Worker here).
        const viaCachingWorker = (kind: "caching" | "audited" | "coordinated") => async (): Promise<void> => {
          const mode = (
            { caching: "cache", audited: "cache-audit", coordinated: "cache-coordinated" } as const
          )[kind];
          const w = await referenceWorker(`${kind}-${rep + 1}`, mode);
          const workerd = groupMembers(w.process.pid).filter((p) => p.comm.startsWith("workerd"));
          if (kind === "coordinated") {
            // A cold blob's first byte through the cache lookup, the R2 lookup and a fill object per
            // digest, as the mirror's must; after the config, as the mirror's is timed.
            const blobUrl = (digest: string) => `${w.url}/v2/${images.ttfb.repo}/blobs/${digest}`;
            const token = await pullToken(tokenFace.url, images.ttfb.repo);
            await timedBlobGet(blobUrl(ttfbConfig), token);
            ttfb.coordinated.push(await timedBlobGet(blobUrl(ttfbLayer), token));
          }
          for (const img of PULL_IMAGES) {
            await sample(img, `${kind}Cold`, ref(`${HOST}:${w.port}`, images[img]), workerd);
            await sleep(FOLLOW_ON_GAP_SECONDS * 1000);
            await sample(img, `${kind}Follow`, ref(`${HOST}:${w.port}`, images[img]), workerd);
            for (let w2 = 0; w2 < WARM; w2++) {
              await sample(img, `${kind}Warm`, ref(`${HOST}:${w.port}`, images[img]), workerd);
            }
          }
          await w.stop();
        };
        // The caches take turns going first, so none always runs on a warmer (or busier) machine: the
        // mirror's goals are ratios to the caching Worker's pulls of the same repetition.
        const order = [
          viaMirror,
          viaDist,
          viaCachingWorker("caching"),
          viaCachingWorker("audited"),
          viaCachingWorker("coordinated"),
        ];
        for (let i = 0; i < order.length; i++) await order[(rep + i) % order.length]?.();
      }
      await passThrough.stop();
      result.pulls = {
        seconds: {
          big: Object.fromEntries(SYSTEMS.map((s) => [s, stats(samples.big[s])])) as Record<
            System,
            ReturnType<typeof stats>
          >,
          many: Object.fromEntries(SYSTEMS.map((s) => [s, stats(samples.many[s])])) as Record<
            System,
            ReturnType<typeof stats>
          >,
        },
        ratios: {
          big: Object.fromEntries(
            SYSTEMS.map((s) => [s, round(stats(samples.big[s]).median / stats(samples.big.direct).median)]),
          ) as Record<System, number>,
          many: Object.fromEntries(
            SYSTEMS.map((s) => [s, round(stats(samples.many[s]).median / stats(samples.many.direct).median)]),
          ) as Record<System, number>,
        },
        mirrorSettleSeconds: { big: stats(settle.big), many: stats(settle.many) },
        serverCpuSeconds: Object.fromEntries(
          Object.entries(cpu).map(([k, v]) => [k, stats(v.map((x) => round(x, 2)))]),
        ),
        upstreamPerPull: pullCounts,
      };
      const tt = (xs: BlobTiming[]) => ({
        firstByte: stats(xs.map((x) => x.firstByte)),
        headers: stats(xs.map((x) => x.headers)),
        total: stats(xs.map((x) => x.total)),
        bytes: xs[0]?.bytes ?? 0,
      });
      result.ttfb = {
        blobBytes: blobsOf(images.ttfb).at(-1)?.size ?? 0,
        direct: tt(ttfb.direct),
        mirror: tt(ttfb.mirror),
        dist: tt(ttfb.dist),
        passThrough: tt(ttfb.passThrough),
        mirrorFirst: tt(ttfb.mirrorFirst),
        distFirst: tt(ttfb.distFirst),
        ...(ttfb.coordinated.length ? { coordinated: tt(ttfb.coordinated) } : {}),
      };
      result.profile = Object.fromEntries(
        Object.entries(profile).map(([k, entries]) => [
          k,
          { summary: summarizeProfile(entries), requests: entries },
        ]),
      );
    }

    // ------------------------------------------------------------------ per scenario: operations, upstream requests
    if (PHASES.has("counts")) {
      log("counts: mirror (operation counters, isolate CPU and JS heap per scenario)");
      const mirrorSide = await platformPhase(ctx, { shortTtlSeconds: SHORT_TTL, concurrency: CONCURRENCY });
      result.platform = mirrorSide.platform;
      const scenarios: NonNullable<BenchResult["upstream"]> = { mirror: mirrorSide.upstream, dist: {} };
      // distribution in proxy mode: the same scenarios, upstream requests only.
      log("counts: distribution");
      const img = images.many;
      const d = await freshDist("counts");
      const r = ref(d.host, img);
      const counted = async (): Promise<ScenarioCounts> => {
        counter.reset();
        await timedPull(env, r, dest("count"));
        return snapshot(counter);
      };
      const tCold = Date.now();
      scenarios.dist.cold = await counted();
      await sleep(FOLLOW_ON_GAP_SECONDS * 1000);
      scenarios.dist.follow = await counted();
      scenarios.dist.warm = { ...(await counted()), secondsAfterCold: (Date.now() - tCold) / 1000 };
      const wait = tCold + (SHORT_TTL + 3) * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      scenarios.dist.expired = { ...(await counted()), secondsAfterCold: (Date.now() - tCold) / 1000 };
      await d.stop();

      const d2 = await freshDist("concurrent");
      const r2 = ref(d2.host, images.fanout);
      counter.reset();
      const tc = performance.now();
      const outcomes = await Promise.allSettled(
        Array.from({ length: CONCURRENCY }, (_, i) => timedPull(env, r2, dest(`conc-${i}`))),
      );
      const wall = (performance.now() - tc) / 1000;
      const ok = outcomes.filter((o) => o.status === "fulfilled").map((o) => o.value);
      const failed = outcomes.flatMap((o) =>
        o.status === "rejected" ? [String(o.reason).slice(0, 300)] : [],
      );
      scenarios.dist.concurrent = {
        ...snapshot(counter),
        pulls: CONCURRENCY,
        failed: failed.length,
        failures: failed.slice(0, 3),
        wallSeconds: round(wall),
        pullSeconds: stats(ok),
      };
      log(`  ${CONCURRENCY} concurrent pulls in ${wall.toFixed(2)} s, ${failed.length} failed`);
      await d2.stop();
      // What the client itself asks for, straight from the upstream (no cache in between).
      counter.reset();
      await timedPull(env, ref(upstreamHost, img), dest("count"));
      scenarios.direct = { pull: snapshot(counter) };
      result.upstream = scenarios;
    }

    // ------------------------------------------------------------------ memory and CPU streaming 1 GiB
    if (PHASES.has("free")) {
      log("free plan: per invocation, CPU and subrequests (PLAN = free)");
      result.freePlan = await freePlanPhase(ctx, locate);
    }
    if (PHASES.has("memory")) {
      result.memory = await memoryPhase(ctx, { reps: MEM_REPS, clients: MEM_CLIENTS, runDir });
    }

    // ------------------------------------------------------------------ CPU profile (opt-in)
    if (PHASES.has("cpuprofile")) {
      log("cpuprofile: V8 profile of the Worker while it streams the 128 MiB blob cold, then warm");
      const inspectorPort = await freePort();
      const mirror = await startMirror({
        ...mirrorOptions(join(runDir, "wrangler-cpuprofile.log")),
        extraArgs: ["--inspector-port", String(inspectorPort)],
      });
      closers.push(() => mirror.stop());
      const inspector = await connectInspector(inspectorPort);
      await getManifest(`${mirror.url}/v2/up`, images.ttfb);
      const members = groupMembers(mirror.process.pid);
      const url = mirrorBlobUrl(mirror, images.ttfb)(ttfbLayer);
      const profiles: NonNullable<BenchResult["cpuProfile"]> = {};
      for (const phase of ["cold", "warm"] as const) {
        const before = members.map((p) => cpuSecondsOf(p.pid));
        const session = await startCpuProfile(inspector);
        const timing = await curlGet(url);
        const profile = await session.stop();
        writeFileSync(join(runDir, `worker-${phase}.cpuprofile`), JSON.stringify(profile));
        profiles[phase] = {
          seconds: timing.total,
          processCpuSeconds: members.map((p, i) => ({
            pid: p.pid,
            comm: p.comm,
            args: processArgs(p.pid),
            seconds: round(cpuSecondsOf(p.pid) - (before[i] ?? 0), 2),
          })),
          profile: summarize(profile, locate),
        };
        log(`  ${phase}: ${timing.total.toFixed(2)} s, profile busy ${profiles[phase]?.profile.busyMs} ms`);
        if (phase === "cold") await waitForHits(mirrorBlobUrl(mirror, images.ttfb), [ttfbLayer]);
      }
      result.cpuProfile = profiles;
      inspector.close();
      await mirror.stop();
    }

    await stopAll();
    const finishedAt = new Date();
    result.finishedAt = finishedAt.toISOString();
    result.durationSeconds = Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000);
    result.machine.loadAverage = { start: loadAtStart, end: loadavg()[0] ?? 0 };
    result.goals = evaluateGoals(result);

    // One file, the latest run: earlier runs are in git history (the result says when it ran).
    const resultsDir = join(outRoot, "bench", "results");
    mkdirSync(resultsDir, { recursive: true });
    const jsonFile = join(resultsDir, "latest.json");
    writeFileSync(jsonFile, `${JSON.stringify(result, null, 2)}\n`);
    mkdirSync(join(outRoot, "docs"), { recursive: true });
    const mdFile = join(outRoot, "docs", "BENCHMARKS.md");
    const previous = existsSync(mdFile) ? readFileSync(mdFile, "utf8") : "";
    writeFileSync(mdFile, renderMarkdown(result, relative(join(outRoot, "docs"), jsonFile), previous));
    writeFileSync(join(outRoot, "docs", "benchmarks.svg"), renderSvg(result));
    console.log(`\n${renderText(result)}`);
    log(`wrote ${jsonFile}, ${mdFile}, docs/benchmarks.svg in ${result.durationSeconds} s`);
  } finally {
    await stopAll();
    rmSync(scratch, { recursive: true, force: true });
    killAllNow();
    clearTimeout(watchdog);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    killAllNow();
    process.exit(1);
  },
);
