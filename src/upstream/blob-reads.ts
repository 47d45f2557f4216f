import type { Digest } from "../oci/digest";
import { RegistryError } from "../oci/errors";
import { type ByteRange, type RangeSpec, rangeHeader } from "../oci/range";
import { withLength } from "../util/streams";
import type { Transport } from "./transport";

/** A blob or part of one as the upstream sent it; `size` is the whole blob's (unknown without a length). */
export interface UpstreamBlob {
  readonly size: number | undefined;
  readonly body: ReadableStream<Uint8Array> | null;
  /** Set when the body is a part of the blob (206). */
  readonly range?: ByteRange;
}

/**
 * Whether this repository has the blob (else the upstream's error: BLOB_UNKNOWN, …), and its size.
 * Signed CDN URLs (Quay's S3 redirects) are signed for GET only and refuse a HEAD, and some servers
 * answer a HEAD without a length: then one byte is asked for instead.
 */
export async function blobSize(
  transport: Transport,
  name: string,
  digest: Digest,
): Promise<number | undefined> {
  const response = await transport.request({ name, path: `blobs/${digest.value}`, method: "HEAD" });
  if (response.ok) {
    checkBlobClaim(response, digest);
    // A HEAD without a length (chunked answers) says the blob is there but not its size, which a
    // client's HEAD must get: a one-byte GET's Content-Range says it (blobs cost no quota).
    return contentLength(response) ?? blobSizeByOneByte(transport, name, digest);
  }
  if (![401, 404, 429].includes(response.status)) return blobSizeByOneByte(transport, name, digest);
  throw await transport.errorFor(response, name, "blob");
}

async function blobSizeByOneByte(
  transport: Transport,
  name: string,
  digest: Digest,
): Promise<number | undefined> {
  const response = await transport.request({
    name,
    path: `blobs/${digest.value}`,
    method: "GET",
    headers: { Range: "bytes=0-0" },
  });
  if (!response.ok) throw await transport.errorFor(response, name, "blob");
  await response.body?.cancel();
  checkBlobClaim(response, digest);
  const total = /\/(\d+)$/.exec(response.headers.get("Content-Range") ?? "")?.[1];
  return response.status === 206 ? (total ? Number(total) : undefined) : contentLength(response);
}

/** The whole blob, streaming; its length must be declared and a same-algorithm claim must match. */
export async function openBlob(
  transport: Transport,
  name: string,
  digest: Digest,
): Promise<{ size: number; body: ReadableStream<Uint8Array> }> {
  const response = await transport.request({ name, path: `blobs/${digest.value}`, method: "GET" });
  if (!response.ok) throw await transport.errorFor(response, name, "blob");
  const claimed = response.headers.get("Docker-Content-Digest");
  const length = response.headers.get("Content-Length");
  if (
    (claimed?.startsWith(`${digest.algorithm}:`) && claimed !== digest.value) ||
    !length ||
    !/^\d+$/.test(length) ||
    !response.body
  ) {
    await response.body?.cancel();
    throw new RegistryError(
      502,
      "UNAVAILABLE",
      `upstream "${transport.upstream.prefix}" sent an unusable blob response`,
    );
  }
  return { size: Number(length), body: response.body };
}

/** A part of the blob (206); an upstream that ignores the range sends the whole blob, passed on as such. */
export async function blobRange(
  transport: Transport,
  name: string,
  digest: Digest,
  spec: RangeSpec,
): Promise<UpstreamBlob> {
  const response = await transport.request({
    name,
    path: `blobs/${digest.value}`,
    method: "GET",
    headers: { Range: rangeHeader(spec) },
  });
  if (response.status === 200) {
    checkBlobClaim(response, digest);
    return { size: contentLength(response), body: response.body };
  }
  if (response.status !== 206) throw await transport.errorFor(response, name, "blob");
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get("Content-Range") ?? "");
  if (!match || !response.body) {
    await response.body?.cancel();
    throw new RegistryError(
      502,
      "UNAVAILABLE",
      `upstream "${transport.upstream.prefix}" sent an unusable partial response`,
    );
  }
  const range = { start: Number(match[1]), end: Number(match[2]) };
  return { size: Number(match[3]), body: withLength(response.body, range.end - range.start + 1), range };
}

/** An upstream that labels the body with another digest is serving something else: never pass it on. */
function checkBlobClaim(response: Response, digest: Digest): void {
  const claimed = response.headers.get("Docker-Content-Digest");
  if (claimed?.startsWith(`${digest.algorithm}:`) && claimed !== digest.value) {
    response.body?.cancel().catch(() => {});
    throw new RegistryError(502, "UNAVAILABLE", "upstream sent a blob with a different digest");
  }
}

function contentLength(response: Response): number | undefined {
  const value = response.headers.get("Content-Length");
  return value !== null && /^\d{1,16}$/.test(value) ? Number(value) : undefined;
}
