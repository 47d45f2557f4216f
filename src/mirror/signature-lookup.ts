import { type Digest, digestOf, parseDigest } from "../oci/digest";
import { RegistryError } from "../oci/errors";
import { MediaType } from "../oci/media-types";
import { digestReference, tagReference } from "../oci/reference";
import { BUNDLE_TYPE } from "../signatures/bundle";
import { legacyKeylessMaterial } from "../signatures/legacy-keyless";
import { readJson, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_TYPE } from "../signatures/simple-signing";
import type { SignatureCandidate } from "../signatures/verdict";
import type { RemoteRegistry } from "../upstream/remote-registry";
import { BodyTooLargeError, readLimited } from "../util/streams";

/** Signature payloads and bundles are a few KiB; anything this large is not one. */
const MAX_SIGNATURE_BLOB_BYTES = 256 * 1024;
/** Signature layers or bundles read per manifest at most: a repository cannot make us read without end. */
const MAX_CANDIDATES = 16;
const MANIFEST_ACCEPT = [MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST].join(", ");

/** The signatures a repository holds for a manifest, and the registry objects they were read from. */
export interface FoundSignatures {
  readonly candidates: SignatureCandidate[];
  /**
   * Digests of the signature manifests and their blobs: once a signature verifies, clients that check
   * it themselves (cosign through the mirror) may read them under an `enforce` policy too.
   */
  readonly artifacts: string[];
}

/** cosign's two ways of attaching a signature: the `.sig` tag, or a sigstore bundle as a referrer. */
export type SignatureForm = "legacy" | "bundle";

/**
 * Finds a manifest's cosign signatures of one form in its repository: the legacy `sha256-<hex>.sig`
 * tag (a HEAD first: free on Docker Hub, and most images have none), or sigstore bundles among its
 * referrers (the referrers API, or its `sha256-<hex>` tag fallback). Reads are bounded and blobs are
 * checked against their digests; nothing here is trusted until `judge` verifies it.
 */
export async function findSignatures(
  client: RemoteRegistry,
  name: string,
  digest: Digest,
  form: SignatureForm,
): Promise<FoundSignatures> {
  const found: FoundSignatures = { candidates: [], artifacts: [] };
  if (form === "legacy") await legacySignatures(client, name, digest, found);
  else await bundleSignatures(client, name, digest, found);
  return found;
}

async function legacySignatures(
  client: RemoteRegistry,
  name: string,
  digest: Digest,
  found: FoundSignatures,
): Promise<void> {
  const tag = tagReference(`${digest.algorithm}-${digest.hex}.sig`);
  const head = await absentOnNotFound(client.headManifest(name, tag, MANIFEST_ACCEPT));
  if (head === undefined) return;
  const manifest = await absentOnNotFound(
    client.getManifest(name, head ? digestReference(parseDigest(head.digest)) : tag, MANIFEST_ACCEPT),
  );
  if (!manifest) return;
  found.artifacts.push(manifest.digest);
  const layers = layersOf(manifest.body).filter((layer) => layer.mediaType === SIMPLE_SIGNING_TYPE);
  for (const layer of layers.slice(0, MAX_CANDIDATES)) {
    const payload = await readBlob(client, name, layer.digest);
    if (!payload) continue;
    found.artifacts.push(layer.digest.value);
    const annotation = layer.annotations[SIGNATURE_ANNOTATION];
    found.candidates.push({
      form: "legacy",
      payload,
      signature: decodeBase64(annotation),
      keyless: legacyKeylessMaterial(layer.annotations),
    });
  }
}

async function bundleSignatures(
  client: RemoteRegistry,
  name: string,
  digest: Digest,
  found: FoundSignatures,
): Promise<void> {
  const page = await absentOnNotFound(client.referrers(name, digest, BUNDLE_TYPE));
  if (!page) return;
  const referrers = page.manifests.flatMap((entry) => {
    const descriptor = entry as { artifactType?: unknown; digest?: unknown } | null;
    if (descriptor?.artifactType !== BUNDLE_TYPE || typeof descriptor.digest !== "string") return [];
    try {
      return [parseDigest(descriptor.digest)];
    } catch {
      return [];
    }
  });
  for (const referrer of referrers.slice(0, MAX_CANDIDATES)) {
    const manifest = await absentOnNotFound(
      client.getManifest(name, digestReference(referrer), MediaType.OCI_MANIFEST),
    );
    if (!manifest) continue;
    found.artifacts.push(manifest.digest);
    for (const layer of layersOf(manifest.body)
      .filter((entry) => entry.mediaType === BUNDLE_TYPE)
      .slice(0, 2)) {
      const bundle = await readBlob(client, name, layer.digest);
      if (!bundle) continue;
      found.artifacts.push(layer.digest.value);
      found.candidates.push({ form: "bundle", bundle });
    }
  }
}

interface Layer {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly annotations: Record<string, unknown>;
}

function layersOf(body: ArrayBuffer): Layer[] {
  const manifest = readJson(new Uint8Array(body)) as { layers?: unknown } | null;
  if (!Array.isArray(manifest?.layers)) return [];
  return manifest.layers.flatMap(
    (layer: { mediaType?: unknown; digest?: unknown; annotations?: unknown } | null) => {
      if (typeof layer?.mediaType !== "string" || typeof layer.digest !== "string") return [];
      try {
        const annotations =
          layer.annotations && typeof layer.annotations === "object"
            ? (layer.annotations as Record<string, unknown>)
            : {};
        return [{ mediaType: layer.mediaType, digest: parseDigest(layer.digest), annotations }];
      } catch {
        return [];
      }
    },
  );
}

/** A small blob read whole and checked against its digest; null when it is missing, too large or wrong. */
async function readBlob(client: RemoteRegistry, name: string, digest: Digest): Promise<Uint8Array | null> {
  const blob = await absentOnNotFound(client.openBlob(name, digest));
  if (!blob) return null;
  if (blob.size > MAX_SIGNATURE_BLOB_BYTES) {
    await blob.body.cancel();
    return null;
  }
  try {
    const bytes = await readLimited(blob.body, MAX_SIGNATURE_BLOB_BYTES);
    return (await digestOf(bytes, digest.algorithm)) === digest.value ? bytes : null;
  } catch (error) {
    if (error instanceof BodyTooLargeError) return null;
    throw error;
  }
}

function decodeBase64(value: unknown): Uint8Array | null {
  if (typeof value !== "string") return null;
  try {
    const binary = atob(value);
    return Uint8Array.from(binary, (char) => char.charCodeAt(0));
  } catch {
    return null;
  }
}

/**
 * The answer, or undefined when the upstream says there is no such thing (404): no signature of that
 * form. Any other failure (the upstream in trouble) propagates: a verdict cannot be made now.
 */
async function absentOnNotFound<T>(pending: Promise<T>): Promise<T | undefined> {
  try {
    return await pending;
  } catch (error) {
    if (error instanceof RegistryError && error.status === 404) return undefined;
    throw error;
  }
}
