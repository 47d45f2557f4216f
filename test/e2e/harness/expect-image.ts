// Assertions shared by the tests: what a pulled copy must contain to equal the pushed image.
import { expect } from "vitest";
import type { PulledDir } from "./clients.ts";
import type { ExpectedImage, ExpectedManifest } from "./push.ts";

export function platformManifest(img: ExpectedImage, arch: "amd64" | "arm64" = "amd64"): ExpectedManifest {
  const m = img.manifests.find((x) => x.arch === arch);
  if (!m) throw new Error(`${img.repo}:${img.tag} has no ${arch} manifest`);
  return m;
}

export function blobsOf(...ms: ExpectedManifest[]): string[] {
  return [...new Set(ms.flatMap((m) => [m.config.digest, ...m.layers.map((l) => l.digest)]))].sort();
}

/** `skopeo copy --all`: the index / list itself, every platform manifest and every blob. */
export function expectFullCopy(pulled: PulledDir, img: ExpectedImage): void {
  expect(pulled.top, "top manifest digest").toBe(img.top.digest);
  if (img.multiArch) {
    expect(pulled.instances, "platform manifests").toEqual(img.manifests.map((m) => m.digest).sort());
  }
  expect(pulled.blobs, "configs and layers").toEqual(blobsOf(...img.manifests));
}

/** `skopeo copy` without --all: the linux/amd64 manifest and its blobs. */
export function expectSingleCopy(
  pulled: PulledDir,
  img: ExpectedImage,
  arch: "amd64" | "arm64" = "amd64",
): void {
  const m = platformManifest(img, arch);
  expect(pulled.top, `${arch} manifest digest`).toBe(m.digest);
  expect(pulled.blobs, "config and layers").toEqual(blobsOf(m));
}

export function ref(host: string, path: string, img: ExpectedImage, repo = img.repo): string {
  return `${host}${path ? `/${path}` : ""}/${repo}:${img.tag}`;
}
