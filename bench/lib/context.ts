// What the phases of a benchmark run share: the upstream's request counter, the images, skopeo's
// environment, and ways to start and address mirrors.
import type { RequestCounter } from "../../test/e2e/harness/counting.ts";
import type { Mirror } from "../../test/e2e/harness/mirror.ts";
import type { ExpectedImage } from "../../test/e2e/harness/push.ts";
import type { SkopeoEnv } from "../../test/e2e/harness/skopeo-env.ts";
import type { BenchImages } from "./catalog.ts";
import type { Inspector } from "./inspector.ts";
import type { ReferenceWorker } from "./reference.ts";

/** A mirror with OP_COUNTERS on, an admin token and an open inspector session. */
export interface ProbedMirror {
  mirror: Mirror;
  inspector: Inspector;
  adminToken: string;
  logFile: string;
}

export interface BenchContext {
  env: SkopeoEnv;
  counter: RequestCounter;
  images: BenchImages;
  log(msg: string): void;
  /** This run's scratch directory (logs, CPU profiles). */
  runDir: string;
  /** A scratch path for a pull's destination. */
  dest(name: string): string;
  /** A fresh mirror with OP_COUNTERS on and the inspector attached; `vars` are extra Worker variables. */
  probedMirror(label: string, vars?: Record<string, string>): Promise<ProbedMirror>;
  stopMirror(m: ProbedMirror): Promise<void>;
  /** The reference Worker (bench/reference-worker) under `wrangler dev`, passing through to the upstream. */
  /** `mode` "cache": a Worker that caches pulls with no policy (see bench/reference-worker). */
  referenceWorker(label: string, mode?: "cache"): Promise<ReferenceWorker>;
  /** `host:port/prefix/repo:tag` of an image through the mirror. */
  mirrorRef(m: Mirror, img: ExpectedImage, prefix?: string): string;
  mirrorBlobUrl(m: Mirror, img: ExpectedImage, prefix?: string): (digest: string) => string;
  /** A pull token for `repo` from the upstream's token server (for requests that bypass any cache). */
  upstreamToken(repo: string): Promise<string | undefined>;
  /** GET the manifest (base is a registry root, or the mirror root plus its prefix). */
  getManifest(base: string, img: ExpectedImage): Promise<void>;
}
