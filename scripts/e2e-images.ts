// Builds the end-to-end suite's synthetic images (test/e2e/harness/catalog.ts) as OCI layouts under
// .e2e-work/images and prints their digests; with `--push <registry URL>` also pushes them with
// skopeo (e.g. to a local `docker-registry`) and prints what the registry holds.
// Run: node_modules/.bin/node scripts/e2e-images.ts [--push http://127.0.0.1:5000]
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CATALOG } from "../test/e2e/harness/catalog.ts";
import { buildImage } from "../test/e2e/harness/images.ts";
import { pushImage } from "../test/e2e/harness/push.ts";
import { makeContainersEnv } from "../test/e2e/harness/skopeo-env.ts";

const repoRoot = resolve(import.meta.dirname, "..");
const pushIndex = process.argv.indexOf("--push");
const registry = pushIndex >= 0 ? process.argv[pushIndex + 1] : undefined;
const cacheDir = join(repoRoot, ".e2e-work", "images");

const out: Record<string, unknown> = {};
for (const [key, spec] of Object.entries(CATALOG)) {
  const built = await buildImage({ ...spec, platforms: [...spec.platforms] }, cacheDir);
  if (registry) {
    out[key] = await pushImage(built, registry, makeContainersEnv(mkdtempSync(join(tmpdir(), "e2e-push-"))));
  } else {
    out[key] = { layout: built.layout, top: built.top, manifests: built.manifests };
  }
}
console.log(JSON.stringify(out, null, 2));
