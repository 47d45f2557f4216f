// Pushes built layouts into the upstream storage with skopeo and reads back what the registry
// holds: the digests that every pull through the mirror must reproduce.
import type { Arch, BuiltImage, Descriptor, Format, ImageSpec } from "./images.ts";
import { fetchT } from "./net.ts";
import { runOk } from "./processes.ts";
import type { SkopeoEnv } from "./skopeo-env.ts";

export const ACCEPT_ALL = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

export interface ExpectedManifest extends Descriptor {
  arch: Arch;
  config: Descriptor;
  layers: Descriptor[];
}

/** An image as the upstream serves it. */
export interface ExpectedImage {
  repo: string;
  tag: string;
  format: Format;
  top: Descriptor;
  multiArch: boolean;
  manifests: ExpectedManifest[];
  /** The built OCI layout: source of truth for blob bytes (Range tests). */
  layout: string;
}

interface RawManifest {
  mediaType?: string;
  manifests?: (Descriptor & { platform?: { architecture: string } })[];
  config?: Descriptor;
  layers?: Descriptor[];
}

async function getManifest(
  base: string,
  repo: string,
  ref: string,
): Promise<{ desc: Descriptor; body: RawManifest }> {
  const res = await fetchT(`${base}/v2/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT_ALL } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${repo}:${ref} from ${base}: ${res.status} ${text}`);
  const body = JSON.parse(text) as RawManifest;
  return {
    desc: {
      mediaType: res.headers.get("content-type") ?? "",
      digest: res.headers.get("docker-content-digest") ?? "",
      size: Buffer.byteLength(text),
    },
    body,
  };
}

/** Reads an image back from an (anonymous) registry and checks it against what was built. */
export async function readBack(base: string, built: BuiltImage): Promise<ExpectedImage> {
  const { spec } = built;
  const top = await getManifest(base, spec.repo, spec.tag);
  const entries = top.body.manifests
    ? top.body.manifests.map((m) => ({ arch: m.platform?.architecture as Arch, digest: m.digest }))
    : [{ arch: built.manifests[0]?.arch ?? "amd64", digest: top.desc.digest }];
  const manifests: ExpectedManifest[] = [];
  for (const e of entries) {
    const m = e.digest === top.desc.digest ? top : await getManifest(base, spec.repo, e.digest);
    const src = built.manifests.find((b) => b.arch === e.arch);
    if (!m.body.config || !m.body.layers || !src)
      throw new Error(`${spec.repo}: unexpected manifest ${e.digest}`);
    const layers = m.body.layers;
    // The conversion to Docker media types must not touch blobs: layers keep their digests.
    const same =
      layers.length === src.layers.length && layers.every((l, i) => l.digest === src.layers[i]?.digest);
    if (!same)
      throw new Error(`${spec.repo}:${spec.tag}/${e.arch}: registry layers differ from the built ones`);
    manifests.push({ ...m.desc, arch: e.arch, config: m.body.config, layers });
  }
  return {
    repo: spec.repo,
    tag: spec.tag,
    format: spec.format,
    top: top.desc,
    multiArch: Boolean(top.body.manifests),
    manifests,
    layout: built.layout,
  };
}

export async function pushImage(built: BuiltImage, registry: string, env: SkopeoEnv): Promise<ExpectedImage> {
  const { spec } = built;
  const host = new URL(registry).host;
  const args = ["copy", "--all", "--dest-tls-verify=false", "--retry-times", "2"];
  if (spec.format === "v2s2") args.push("--format", "v2s2");
  args.push(`oci:${built.layout}:${spec.tag}`, `docker://${host}/${spec.repo}:${spec.tag}`);
  await runOk("skopeo", args, { env: env.env, timeoutMs: 180_000 });
  return readBack(registry, built);
}

export function describe(spec: ImageSpec): string {
  return `${spec.repo}:${spec.tag} (${spec.format}, ${spec.platforms.join("+")})`;
}
