import { type Digest, DigestVerifier } from "../oci/digest";
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
