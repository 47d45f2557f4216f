import { type Digest, DigestVerifier } from "../oci/digest";
import type { DownloadEnd } from "./fill";
import type { Spool } from "./spool";

/**
 * Copies the download into the spool, hashing it on the way; resolves whether it is exactly `size`
 * bytes with the digest. Appending first lets readers have each chunk before it is hashed: the spool
 * holds back the last one until the verdict.
 */
export async function copyVerified(
  body: ReadableStream<Uint8Array>,
  spool: Spool,
  digest: Digest,
  readerWaitMs: number,
): Promise<boolean> {
  const verifier = new DigestVerifier(digest);
  const reader = body.getReader();
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.byteLength;
    if (length > spool.size) {
      await reader.cancel();
      return false;
    }
    await spool.room(readerWaitMs);
    spool.append(value);
    await verifier.update(value);
  }
  return (await verifier.matches()) && length === spool.size;
}

/**
 * Copies the download into the spool (see copyVerified) and ends the spool with the verdict: a download
 * that failed fails its readers, wrong bytes end them with an error, right bytes are finished, and held
 * for their upload when `hold` is set and storage kept them all.
 */
export async function spoolVerified(
  body: ReadableStream<Uint8Array>,
  spool: Spool,
  digest: Digest,
  readerWaitMs: number,
  hold: boolean,
): Promise<DownloadEnd> {
  let verified: boolean;
  try {
    verified = await copyVerified(body, spool, digest, readerWaitMs);
  } catch (error) {
    spool.fail(error instanceof Error ? error : new Error("fill failed"));
    return { verified: false, cause: "fill_failed", error: String(error) };
  }
  const kept = !spool.storageFailed;
  spool.finish(verified, hold && kept);
  if (!verified) return { verified: false, cause: "rejected" };
  // Readers that kept up got every byte; without all its rows the spool cannot be uploaded.
  if (!kept) return { verified: false, cause: "spool_failed", error: spool.storageFailure ?? "" };
  return { verified: true };
}
