import type { UpstreamConfig } from "../config";
import type { Digest } from "../oci/digest";
import type { MultipartWatch } from "../storage/blob-store";
import type { Fill } from "../storage/fill";
import { MEMORY_FILL_MAX_BYTES, MemoryFill } from "../storage/memory-fill";
import { PipedFill } from "../storage/piped-fill";
import { SqliteFill } from "../storage/sqlite-fill";
import { ThroughFill } from "../storage/through-fill";
import { metered } from "../util/held-bytes";
import { idleTimeout, rechunk } from "../util/streams";
import type { FillServices } from "./fill-services";
import { describe } from "./log";
import { catchUpSource } from "./through-catch-up";

/** Size of the pieces a download is handled in (and of the spool's rows). */
const CHUNK_BYTES = 1024 * 1024;
/** The first piece is small, so the first bytes reach clients without waiting for a whole MiB. */
const FIRST_CHUNK_BYTES = 64 * 1024;
/** How long the download waits at most for its leading reader before each chunk. */
const READER_WAIT_MS = 200;

/** The download a fill is chosen for, once the upstream has answered. */
export interface Download {
  readonly owner: { readonly upstream: UpstreamConfig; readonly name: string };
  readonly digest: Digest;
  readonly size: number;
  /** Downloaded with upstream credentials. */
  readonly restricted: boolean;
}

/**
 * Which way a download goes: on the Free plan piped into the store; too large to spool, stored as it
 * streams; small, in memory if the isolate has room; else spooled in SQLite (or, if storage refuses even
 * an empty spool, stored as it streams after all).
 */
export function fillFor(
  services: FillServices,
  sql: SqlStorage,
  download: Download,
  upstreamBody: ReadableStream<Uint8Array>,
  /** Keeps the id of a store-through download's multipart upload while it is open. */
  multipart?: MultipartWatch,
): Fill {
  const { owner, digest, size, restricted } = download;
  if (services.config.plan === "free" && size > MEMORY_FILL_MAX_BYTES) {
    return piped(services, download, upstreamBody);
  }
  // 1 MiB chunks: the hash, the spool and the readers then work per MiB, not per network packet.
  const body = idleTimeout(
    rechunk(upstreamBody, CHUNK_BYTES, FIRST_CHUNK_BYTES),
    owner.upstream.timeout * 1000,
  );
  // Each chunk read only once the isolate's budget has room for it (a memory spool holds its whole size
  // from the start instead).
  let meteredBody: ReadableStream<Uint8Array> | null = null;
  const chunks = () => {
    meteredBody ??= metered(body, CHUNK_BYTES);
    return meteredBody;
  };
  const through = () =>
    new ThroughFill(
      chunks(),
      size,
      digest,
      restricted,
      owner.upstream.timeout * 1000,
      services.blobStore,
      {
        windowBytes: services.config.clientWindowBytes,
        resume: catchUpSource(
          services.blobStore,
          () => services.registry(owner.upstream),
          owner.name,
          digest,
          size,
        ),
      },
      multipart,
    );
  if (size > services.config.spoolMaxBytes) return through();
  const inMemory = MemoryFill.start(body, digest, size, restricted, READER_WAIT_MS, services.blobStore);
  if (inMemory) return inMemory;
  try {
    const record = { upstream: owner.upstream.prefix, name: owner.name };
    return SqliteFill.start(sql, chunks(), digest, size, restricted, record, READER_WAIT_MS, {
      store: services.blobStore,
      multipartThreshold: services.config.multipartThreshold,
    });
  } catch (error) {
    // The object's storage refuses even an empty spool: the blob goes to the store as it streams.
    services.log({ event: "blob.spool_refused", digest: digest.value, error: describe(error) });
    return through();
  }
}

/**
 * The Free plan's fill (PLAN = "free"): the upstream's body piped natively into one R2 put that checks
 * length and hash itself, so the invocation spends no CPU per byte; its clients are sent to the
 * upstream. A blob above the multipart threshold is not stored (a multipart upload is not checked
 * against the digest by R2, and checking it here would cost CPU per byte): every pull streams it.
 */
function piped(services: FillServices, download: Download, body: ReadableStream<Uint8Array>): PipedFill {
  const { digest, size, restricted } = download;
  const storable = size <= services.config.multipartThreshold;
  if (!storable) {
    services.log({
      event: "blob.not_stored",
      digest: digest.value,
      size,
      reason: "too large for the Free plan",
    });
  }
  const storing = storable
    ? services.blobStore.put(digest, body, size, { restricted })
    : body.cancel().then(() => false);
  return new PipedFill(size, restricted, storing);
}
