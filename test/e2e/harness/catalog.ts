// The images the suite pushes upstream, by role. Each test that counts upstream requests gets an
// image nobody else pulls, because the mirror caches blobs by digest across all repositories.
import type { ImageSpec } from "./images.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const both = ["amd64", "arm64"] as const;

export const CATALOG = {
  /** Docker Hub look-alike, official image: reached as `alpine` through the default upstream. */
  alpine: {
    repo: "library/alpine",
    tag: "3.20",
    format: "oci",
    platforms: [...both],
    layerSizes: [400 * KiB, 20 * KiB],
  },
  /** Docker Hub look-alike, Docker media types (manifest list). */
  busybox: {
    repo: "library/busybox",
    tag: "1.36",
    format: "v2s2",
    platforms: [...both],
    layerSizes: [300 * KiB],
  },
  /** Docker Hub look-alike, only for request counting (tokens, CDN redirects). */
  hubCounted: {
    repo: "library/counted",
    tag: "v1",
    format: "v2s2",
    platforms: [...both],
    layerSizes: [200 * KiB, 30 * KiB],
  },
  /** Quay look-alike: three layers per platform, every routing form. */
  app: {
    repo: "org/app",
    tag: "v1",
    format: "oci",
    platforms: [...both],
    layerSizes: [500 * KiB, 100 * KiB, 5 * KiB],
  },
  /** Quay look-alike: one ≥ 100 MiB layer (blob caching, Range). */
  big: {
    repo: "org/big",
    tag: "v1",
    format: "v2s2",
    platforms: ["amd64"],
    layerSizes: [100 * MiB + 12_345, 64 * KiB],
  },
  /** Quay look-alike: Range requests (a blob of its own, so the order of the test files does not matter). */
  ranged: {
    repo: "org/ranged",
    tag: "v1",
    format: "oci",
    platforms: ["amd64"],
    layerSizes: [32 * MiB + 777],
  },
  /** Quay look-alike, pulled by containerd (`ctr`) through hosts.toml. */
  ctr: { repo: "org/ctr", tag: "v1", format: "oci", platforms: [...both], layerSizes: [300 * KiB, 10 * KiB] },
  /** Quay look-alike, pulled by podman through registries.conf. */
  podman: {
    repo: "org/podman",
    tag: "v1",
    format: "v2s2",
    platforms: [...both],
    layerSizes: [300 * KiB, 10 * KiB],
  },
  /** Anonymous face. */
  anon: {
    repo: "team/anon",
    tag: "v1",
    format: "v2s2",
    platforms: [...both],
    layerSizes: [250 * KiB, 8 * KiB],
  },
  /** Anonymous face, only for request counting. */
  counted: {
    repo: "team/counted",
    tag: "v1",
    format: "oci",
    platforms: [...both],
    layerSizes: [250 * KiB, 8 * KiB],
  },
  /** Anonymous face, only for concurrent cold pulls (one upstream fetch shared by all). */
  concurrent: {
    repo: "team/concurrent",
    tag: "v1",
    format: "oci",
    platforms: ["amd64"],
    layerSizes: [24 * MiB, 2 * KiB],
  },
  /** Anonymous face behind the tagTtl-0 prefix, for "upstream in trouble" (faults) tests. */
  stale: { repo: "team/stale", tag: "v1", format: "v2s2", platforms: [...both], layerSizes: [64 * KiB] },
  /** Anonymous face: its layer is corrupted in flight by a fault (never cached by anyone else). */
  poison: { repo: "team/poison", tag: "v1", format: "oci", platforms: ["amd64"], layerSizes: [3 * MiB] },
  /** Anonymous face behind a prefix with tagTtl 0. */
  fresh: { repo: "team/fresh", tag: "v1", format: "oci", platforms: ["amd64"], layerSizes: [100 * KiB] },
  /** Anonymous face behind the tagTtl-2 prefix: revalidation, and a tag that moves (resilience.e2e.ts). */
  moving: {
    repo: "team/moving",
    tag: "v1",
    format: "oci",
    platforms: [...both],
    layerSizes: [96 * KiB, 3 * KiB],
  },
  /** Anonymous face: 20 concurrent cold skopeo pulls of one multi-layer image (concurrency.e2e.ts). */
  crowd: {
    repo: "team/crowd",
    tag: "v1",
    format: "oci",
    platforms: ["amd64"],
    layerSizes: [6 * MiB, 3 * MiB, 1 * MiB, 64 * KiB],
  },
  /** Anonymous face: big layers whose clients hang up early (resilience.e2e.ts). */
  abandon: {
    repo: "team/abandon",
    tag: "v1",
    format: "oci",
    platforms: ["amd64"],
    layerSizes: [40 * MiB, 24 * MiB],
  },
  /** Anonymous face: the cached blob of the bad-input corpus (bad-input.e2e.ts). */
  badinput: { repo: "team/badinput", tag: "v1", format: "oci", platforms: ["amd64"], layerSizes: [64 * KiB] },
  /** htpasswd (Basic) face. */
  basic: {
    repo: "team/basic",
    tag: "v1",
    format: "oci",
    platforms: ["amd64"],
    layerSizes: [200 * KiB, 4 * KiB],
  },
  /** Token face, public repository. */
  token: { repo: "team/token", tag: "v1", format: "oci", platforms: [...both], layerSizes: [200 * KiB] },
  /** Token face, `private/`: needs credentials. */
  secret: {
    repo: "private/secret",
    tag: "v1",
    format: "v2s2",
    platforms: [...both],
    layerSizes: [150 * KiB, 3 * KiB],
  },
} satisfies Record<string, ImageSpec>;

export type ImageKey = keyof typeof CATALOG;
