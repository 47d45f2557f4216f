// Pushes small OCI artifacts over the registry API (what oras, cosign and notation do): a subject
// manifest, referrers with `subject` and `artifactType`, and the referrers tag schema's index for
// registries without the referrers API. Every push is idempotent, so reruns on the kept storage agree.
import { createHash } from "node:crypto";
import { fetchT } from "./net.ts";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const EMPTY = "application/vnd.oci.empty.v1+json";

export interface PushedDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

const sha256 = (bytes: Buffer): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

/** Pushes a blob (monolithic upload); the descriptor's media type is the empty one unless given. */
export async function pushBlob(
  registry: string,
  repo: string,
  bytes: Buffer,
  mediaType: string = EMPTY,
): Promise<PushedDescriptor> {
  const digest = sha256(bytes);
  const start = await fetchT(`${registry}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  const location = start.headers.get("location");
  await start.arrayBuffer();
  if (start.status !== 202 || !location) throw new Error(`blob upload start: ${start.status}`);
  const url = new URL(location, registry);
  url.searchParams.set("digest", digest);
  const put = await fetchT(url.toString(), {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
    body: bytes,
  });
  await put.arrayBuffer();
  if (put.status !== 201) throw new Error(`blob upload: ${put.status}`);
  return { mediaType, digest, size: bytes.length };
}

/** Pushes a manifest under `tag`, or by its digest when `tag` is null. */
export async function pushManifest(
  registry: string,
  repo: string,
  tag: string | null,
  manifest: object,
  mediaType: string,
): Promise<PushedDescriptor> {
  const body = Buffer.from(JSON.stringify(manifest));
  const reference = tag ?? sha256(body);
  const put = await fetchT(`${registry}/v2/${repo}/manifests/${reference}`, {
    method: "PUT",
    headers: { "content-type": mediaType },
    body,
  });
  const text = await put.text();
  if (put.status !== 201) throw new Error(`manifest push ${repo}:${reference}: ${put.status} ${text}`);
  return { mediaType, digest: sha256(body), size: body.length };
}

/** A minimal image manifest (empty config and layer) under `tag`: something to refer to. */
export async function pushSubject(
  registry: string,
  repo: string,
  tag: string,
  seed: string,
): Promise<PushedDescriptor> {
  const layer = await pushBlob(registry, repo, Buffer.from(`layer of ${seed}`));
  const config = await pushBlob(registry, repo, Buffer.from("{}"));
  return pushManifest(
    registry,
    repo,
    tag,
    {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { ...config, mediaType: EMPTY },
      layers: [{ ...layer, mediaType: "application/vnd.oci.image.layer.v1.tar" }],
      annotations: { "org.example.seed": seed },
    },
    OCI_MANIFEST,
  );
}

/**
 * An artifact referring to `subject`. With `tagSchema`, it is also added to the index under the
 * subject's referrers tag (`sha256-<hex>`), as clients do on registries without the referrers API.
 */
export async function pushReferrer(
  registry: string,
  repo: string,
  subject: PushedDescriptor,
  artifactType: string,
  options: { tagSchema: boolean },
): Promise<PushedDescriptor> {
  const empty = await pushBlob(registry, repo, Buffer.from("{}"));
  const annotations = { "org.example.kind": artifactType };
  const pushed = await pushManifest(
    registry,
    repo,
    null,
    {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType,
      config: empty,
      layers: [empty],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations,
    },
    OCI_MANIFEST,
  );
  const descriptor = { ...pushed, artifactType, annotations };
  if (options.tagSchema) {
    const tag = subject.digest.replace(":", "-");
    const current = await fetchT(`${registry}/v2/${repo}/manifests/${tag}`, {
      headers: { accept: OCI_INDEX },
    });
    const index =
      current.status === 200 ? ((await current.json()) as { manifests: PushedDescriptor[] }) : null;
    if (current.status !== 200) await current.arrayBuffer();
    const others = (index?.manifests ?? []).filter((d) => d.digest !== descriptor.digest);
    await pushManifest(
      registry,
      repo,
      tag,
      { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [...others, descriptor] },
      OCI_INDEX,
    );
  }
  return descriptor;
}
