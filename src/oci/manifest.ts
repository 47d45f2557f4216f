import { parseDigest } from "./digest";

/** A child of an index, with its platform when given. */
export interface IndexEntry {
  readonly digest: string;
  readonly platform?: { readonly os?: string; readonly architecture?: string; readonly variant?: string };
}

/** The config and layer digests an image manifest names (none for an index or anything unreadable). */
export function imageBlobDigests(body: ArrayBuffer | Uint8Array): string[] {
  const manifest = readJson(body) as {
    config?: { digest?: unknown };
    layers?: Array<{ digest?: unknown }>;
  } | null;
  if (!manifest) return [];
  const digests = [
    manifest.config?.digest,
    ...(Array.isArray(manifest.layers) ? manifest.layers : []).map((layer) => layer?.digest),
  ];
  return digests.filter((digest): digest is string => typeof digest === "string" && isDigest(digest));
}

/** The children of an index (none for anything else). */
export function indexEntries(body: ArrayBuffer | Uint8Array): IndexEntry[] {
  const index = readJson(body) as {
    manifests?: Array<{ digest?: unknown; platform?: IndexEntry["platform"] }>;
  } | null;
  if (!index || !Array.isArray(index.manifests)) return [];
  return index.manifests.flatMap((entry) =>
    typeof entry?.digest === "string" && isDigest(entry.digest)
      ? [{ digest: entry.digest, platform: entry.platform }]
      : [],
  );
}

function readJson(body: ArrayBuffer | Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(body));
  } catch {
    return null;
  }
}

function isDigest(value: string): boolean {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}
