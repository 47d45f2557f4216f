import type { Digest } from "../oci/digest";
import type { BlobStore } from "../storage/blob-store";
import type { RemoteRegistry } from "../upstream/remote-registry";
import { idleTimeout, sliceOf } from "../util/streams";
import { within } from "../util/within";

/**
 * How long a client that fell behind a store-through download waits for the store to land before it
 * asks the upstream for the rest instead: short, as it receives nothing meanwhile.
 */
const CATCH_UP_STORE_WAIT_MS = 5_000;

/**
 * Where a client that fell behind a store-through download continues: from R2 if the store lands
 * within a short wait (no second upstream GET), else from the upstream at its offset. Its stream
 * hashes the whole blob either way (see StoreThrough).
 */
export function catchUpSource(
  store: BlobStore,
  client: () => RemoteRegistry,
  name: string,
  digest: Digest,
  size: number,
): (offset: number, landed: Promise<unknown>) => Promise<ReadableStream<Uint8Array>> {
  return async (offset, landed) => {
    await within(landed, CATCH_UP_STORE_WAIT_MS);
    const stored = await store.get(digest, { offset, length: size - offset });
    return stored?.body ?? (await upstreamFrom(client(), name, digest, offset));
  };
}

/** The blob from `offset` on, from the upstream (a Range request; a whole answer is skipped to it). */
async function upstreamFrom(
  client: RemoteRegistry,
  name: string,
  digest: Digest,
  offset: number,
): Promise<ReadableStream<Uint8Array>> {
  const { body, range } = await client.blobRange(name, digest, { kind: "from", start: offset });
  if (!body) throw new Error("the upstream sent no body");
  if (range && range.start !== offset) {
    await body.cancel().catch(() => {});
    throw new Error("the upstream answered another range");
  }
  const timed = idleTimeout(body, client.upstream.timeout * 1000);
  return range ? timed : sliceOf(timed, { start: offset, end: Number.MAX_SAFE_INTEGER });
}
