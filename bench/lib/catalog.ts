// The benchmark's synthetic images (deterministic, built with the e2e harness's generator) and the
// upstream storage that holds them: built and pushed once per catalog version, reused afterwards.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildImage, GENERATOR_VERSION, type ImageSpec } from "../../test/e2e/harness/images.ts";
import { type ExpectedImage, pushImage } from "../../test/e2e/harness/push.ts";
import { makeContainersEnv } from "../../test/e2e/harness/skopeo-env.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

export const BENCH_IMAGES = {
  /** ~305 MiB, one platform, four layers (Docker media types, like most of Docker Hub). */
  big: {
    repo: "bench/big",
    tag: "v1",
    format: "v2s2",
    platforms: ["amd64"],
    layerSizes: [160 * MiB, 96 * MiB, 48 * MiB, 1 * MiB],
  },
  /** 20 small layers (32 KiB … 640 KiB, ~6.6 MiB in all): per-request overhead dominates. */
  many: {
    repo: "bench/many",
    tag: "v1",
    format: "oci",
    platforms: ["amd64"],
    layerSizes: Array.from({ length: 20 }, (_, i) => (32 + 32 * i) * KiB),
  },
  /** One 128 MiB layer, fetched as a plain blob for time to first byte (never pulled otherwise). */
  ttfb: { repo: "bench/ttfb", tag: "v1", format: "oci", platforms: ["amd64"], layerSizes: [128 * MiB] },
  /** 20 concurrent cold pulls of this one (a 32 MiB layer keeps the pulls overlapping). */
  fanout: {
    repo: "bench/fanout",
    tag: "v1",
    format: "oci",
    platforms: ["amd64"],
    layerSizes: [32 * MiB, 4 * MiB, 1 * MiB, 256 * KiB],
  },
  /** Twelve 256 MiB layers, each fetched cold at once as a plain blob: memory of concurrent fills. */
  dozen: {
    repo: "bench/dozen",
    tag: "v1",
    format: "oci",
    platforms: ["amd64"],
    layerSizes: Array.from({ length: 12 }, () => 256 * MiB),
  },
  /** One 1 GiB layer (stored gzip: payload is AES-CTR keystream), streamed for memory figures. */
  huge: { repo: "bench/huge", tag: "v1", format: "oci", platforms: ["amd64"], layerSizes: [1024 * MiB] },
} satisfies Record<string, ImageSpec>;

export type BenchImageKey = keyof typeof BENCH_IMAGES;
export type BenchImages = Record<BenchImageKey, ExpectedImage>;

export function catalogHash(): string {
  return createHash("sha256")
    .update(JSON.stringify({ GENERATOR_VERSION, BENCH_IMAGES, storage: 1 }))
    .digest("hex")
    .slice(0, 12);
}

export function storageDir(workDir: string): string {
  return join(workDir, `storage-${catalogHash()}`);
}

/** Every blob of a single-platform image: config and layers. */
export function blobsOf(img: ExpectedImage): { digest: string; size: number }[] {
  const m = img.manifests[0];
  if (!m) throw new Error(`${img.repo}: no manifest`);
  return [m.config, ...m.layers].map(({ digest, size }) => ({ digest, size }));
}

export function imageBytes(img: ExpectedImage): number {
  return blobsOf(img).reduce((n, b) => n + b.size, 0);
}

/**
 * Builds and pushes the catalog into `storage` through `pushUrl` (an anonymous face on that storage)
 * unless it is there already. Built layouts are deleted after the push: only the storage is kept.
 */
export async function ensureBenchImages(
  storage: string,
  workDir: string,
  pushUrl: string,
  log: (msg: string) => void,
): Promise<BenchImages> {
  const marker = join(storage, "bench-expected.json");
  if (existsSync(marker)) return JSON.parse(readFileSync(marker, "utf8")) as BenchImages;
  const t0 = Date.now();
  const env = makeContainersEnv(join(workDir, "push"));
  const cacheDir = join(workDir, "layouts");
  const out: Partial<BenchImages> = {};
  for (const [k, spec] of Object.entries(BENCH_IMAGES) as [BenchImageKey, ImageSpec][]) {
    const t1 = Date.now();
    const built = await buildImage({ ...spec, platforms: [...spec.platforms] }, cacheDir);
    out[k] = await pushImage(built, pushUrl, env);
    log(`image ${k} built and pushed in ${Date.now() - t1} ms`);
  }
  writeFileSync(marker, JSON.stringify(out, null, 2));
  rmSync(cacheDir, { recursive: true, force: true });
  log(`images ready in ${Date.now() - t0} ms`);
  return out as BenchImages;
}
