import { fetchesRestricted, tableSink } from "../access/blobs";
import type { UpstreamConfig } from "../config";
import type { Digest } from "../oci/digest";
import { RegistryError } from "../oci/errors";
import { repositoryName } from "../storage/blob-links";
import type { LinkTable } from "../storage/link-table";
import type { PendingUploads } from "../storage/pending-upload";
import { PipedStore } from "../storage/piped-store";
import { Spool } from "../storage/spool";
import { copyVerified } from "../storage/spool-copy";
import { StoreThrough } from "../storage/store-through";
import type { RemoteRegistry } from "../upstream/remote-registry";
import { foregroundQuiet } from "../util/foreground";
import { idleTimeout, rechunk, sliceOf } from "../util/streams";
import type { Services } from "./services";

/** Size of the pieces a download is handled in (and of the spool's rows). */
const CHUNK_BYTES = 1024 * 1024;
/** The first piece is small, so the first bytes reach clients without waiting for a whole MiB. */
const FIRST_CHUNK_BYTES = 64 * 1024;
/** How long the download waits at most for its leading reader before each chunk. */
const READER_WAIT_MS = 200;
/**
 * An upload starts once this isolate's clients have been quiet this long (a pull's requests come one
 * after another, with gaps shorter than this), or UPLOAD_START_MAX_MS after the verdict at the latest.
 */
const UPLOAD_QUIET_MS = 200;
const UPLOAD_START_MAX_MS = 2_000;
/**
 * Blobs up to this size (configs, small layers) are spooled in the fill object's memory: no row is
 * written for them, no alarm set, and their responses never wait on the object's storage.
 */
const MEMORY_SPOOL_MAX_BYTES = 1024 * 1024;
/** What in-memory spools may hold at once in this isolate (fill objects share isolates). */
const MEMORY_SPOOL_BUDGET_BYTES = 32 * 1024 * 1024;
/**
 * How long a client that fell behind a store-through download waits for the store to land before it
 * asks the upstream for the rest instead: short, as it receives nothing meanwhile.
 */
const CATCH_UP_STORE_WAIT_MS = 5_000;
/** Bytes the in-memory spools of this isolate hold now. */
let memorySpooled = 0;

/**
 * Resolves when a background upload may start: not in the gaps between a pull's requests, which would
 * make the next one wait for it (under `wrangler dev` the local R2 takes the thread ~15 ms per MiB).
 */
export function uploadMayStart(): Promise<void> {
  return foregroundQuiet(UPLOAD_START_MAX_MS, UPLOAD_QUIET_MS);
}

/**
 * A blob's one download, as its fill object runs it: started by the first whole GET, joined by every
 * request while it lasts (another repository's only once the access module agrees), spooled into the
 * object's storage, and handed to the alarm for its upload once verified. After a restart of the object,
 * a verified spool left in storage is taken up again. A small blob is spooled in memory and uploaded
 * by the download's own invocation; one too large for a spool is stored as it streams.
 */
export class BlobDownloads {
  /** The download in progress (or being started), and for which repository it was started. */
  private current: Download | null = null;
  /** This instance has stored the blob (the store may have it although the Worker just missed it). */
  private storedHere = false;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly links: LinkTable,
    private readonly pending: PendingUploads,
  ) {}

  /** A download is in progress (or its verified spool still waits to be uploaded). */
  get busy(): boolean {
    return this.current !== null;
  }

  /** The spool of the download in progress, taken up from storage after a restart if need be. */
  spool(services: Services): Spool | null {
    if (!this.current?.spool) this.resumePending(services);
    const spool = this.current?.spool;
    return spool instanceof Spool ? spool : null;
  }

  /**
   * Joins the download in progress, or starts one. Whether this repository may read a download started
   * for another is the access module's answer (a restricted one: once the upstream confirms it). If a
   * download started for another repository fails, this one tries its own.
   */
  async join(services: Services, me: Owner, digest: Digest, start: boolean): Promise<Fill | null> {
    // At most two rounds: our own download is started on the second at the latest.
    for (let attempt = 0; attempt < 2; attempt++) {
      // A verified spool an earlier instance left (restarted before its upload ended) serves at once.
      if (!this.current) this.resumePending(services);
      if (!this.current && !start) return null;
      // Set before the first await, so requests arriving meanwhile join this download.
      if (!this.current) {
        const fill = this.start(services, me, digest);
        const current: Download = { owner: me, fill };
        this.current = current;
        fill.then(
          (spool) => {
            current.spool = spool;
            if (!spool && this.current === current) this.current = null;
          },
          () => {
            if (this.current === current) this.current = null;
          },
        );
      }
      const { owner, fill } = this.current;
      const mine = owner.upstream.prefix === me.upstream.prefix && owner.name === me.name;
      let spool: Fill | null;
      try {
        spool = await fill;
      } catch (error) {
        if (mine || attempt > 0) throw error;
        if (!start) return null;
        continue;
      }
      // A confirmed link goes straight into this object's table: no call to ourselves.
      const confirming =
        spool &&
        services.blobAccess.admitToDownload(
          services.registry(me.upstream),
          me.name,
          digest,
          { restricted: spool.restricted, owner: { upstream: owner.upstream.prefix, name: owner.name } },
          tableSink(this.links),
        );
      if (confirming) await confirming;
      // A download that ended while we were confirming is in the store (or gone): the Worker looks there.
      return spool instanceof Spool && spool.disposed ? null : spool;
    }
    throw new RegistryError(502, "UNAVAILABLE", "the blob could not be fetched");
  }

  /** How the upload of this object's blob ended: logged, and a stored blob counted in the totals. */
  async uploaded(
    services: Services,
    digest: Digest,
    size: number,
    upstream: string,
    stored: boolean,
  ): Promise<void> {
    services.log({
      event: stored ? "blob.stored" : "blob.store_failed",
      digest: digest.value,
      size,
      upstream,
    });
    if (stored) await this.stored(services, size);
  }

  /** The blob of this object's download has landed in the store: counted in the mirror's totals. */
  private async stored(services: Services, size: number): Promise<void> {
    this.storedHere = true;
    services.stats.blobStored(size);
    await services.stats.flushIfDue().catch(() => {});
  }

  /**
   * Starts the upstream download; null when the blob turned out to be stored already. The Worker
   * comes here only after a miss in the store, which only this object's own upload can have ended
   * since (one object per digest stores it): the store is asked again only then, not before every
   * cold blob (a round trip before its first byte).
   */
  private async start(services: Services, owner: Owner, digest: Digest): Promise<Fill | null> {
    const { upstream, name } = owner;
    const prefix = upstream.prefix;
    if (this.storedHere && (await services.blobStore.head(digest))) return null;
    const client = services.registry(upstream);
    const { size, body: upstreamBody } = await client.openBlob(name, digest);
    // Fetched with credentials, the blob may be private: only repositories known to hold it serve it.
    const restricted = fetchesRestricted(client);
    // The upstream just served it for this repository: a link (no KV write, no call: our own table).
    if (restricted) this.links.link(repositoryName({ upstream: prefix, name }));
    if (services.config.plan === "free" && size > MEMORY_SPOOL_MAX_BYTES) {
      return this.pipeToStore(services, owner, digest, upstreamBody, size, restricted);
    }
    // 1 MiB chunks: the hash, the spool and the readers then work per MiB, not per network packet.
    const body = idleTimeout(rechunk(upstreamBody, CHUNK_BYTES, FIRST_CHUNK_BYTES), upstream.timeout * 1000);
    if (size > services.config.spoolMaxBytes) {
      return this.storeThrough(services, owner, digest, body, size, restricted);
    }
    if (size <= MEMORY_SPOOL_MAX_BYTES && memorySpooled + size <= MEMORY_SPOOL_BUDGET_BYTES) {
      return this.spoolInMemory(services, owner, digest, body, size, restricted);
    }
    // Idle once finished and every reader (the store's upload too) is done: the next request starts
    // afresh or finds the blob stored.
    let spool: Spool;
    try {
      spool = Spool.create(this.ctx.storage.sql, size, restricted, () => this.forgetDownload(spool));
    } catch (error) {
      // The object's storage refuses even an empty spool: the blob goes to R2 as it streams instead.
      services.log({
        event: "blob.spool_failed",
        digest: digest.value,
        upstream: prefix,
        error: String(error),
      });
      return this.storeThrough(services, owner, digest, body, size, restricted);
    }
    this.ctx.waitUntil(
      this.complete(services, owner, digest, spool, copyVerified(body, spool, digest, READER_WAIT_MS)),
    );
    return spool;
  }

  /**
   * Ends the download: the verdict on the downloaded bytes releases (or fails) the readers' last chunk,
   * and a verified spool is handed to the alarm for its upload. Clients never wait for the store: they
   * stream at the upstream's pace.
   */
  private async complete(
    services: Services,
    owner: Owner,
    digest: Digest,
    spool: Spool,
    downloaded: Promise<boolean>,
  ): Promise<void> {
    const { log } = services;
    const prefix = owner.upstream.prefix;
    // A spool whose storage failed served its readers from memory; it cannot be uploaded.
    if (!(await this.verdict(services, owner, digest, spool, downloaded, () => !spool.storageFailed))) return;
    if (spool.storageFailed) {
      // Nothing to upload: forgotten once its last reader is done (its rows share the table with the
      // next download's), and the next pull fetches again.
      log({
        event: "blob.spool_failed",
        digest: digest.value,
        upstream: prefix,
        error: spool.storageFailure ?? "",
      });
      return;
    }
    try {
      this.pending.record({
        digest: digest.value,
        size: spool.size,
        restricted: spool.restricted,
        upstream: prefix,
        name: owner.name,
      });
      await this.ctx.storage.setAlarm(Date.now());
    } catch (error) {
      // Storage refused: nothing is stored, the readers still got every byte; the next pull refetches.
      log({ event: "blob.store_failed", digest: digest.value, upstream: prefix, error: String(error) });
      this.dropPending(spool);
    }
  }

  /**
   * Waits for the download's verdict and ends the spool with it: true when the bytes are the blob (the
   * spool finished, and held for its upload when `hold` says so, asked once the download is over). A
   * download that failed fails its readers, and wrong bytes end them with an error; either is logged and
   * forgotten, so the next request fetches afresh.
   */
  private async verdict(
    services: Services,
    owner: Owner,
    digest: Digest,
    spool: Spool,
    downloaded: Promise<boolean>,
    hold: () => boolean,
  ): Promise<boolean> {
    const { log } = services;
    const prefix = owner.upstream.prefix;
    let verified: boolean;
    try {
      verified = await downloaded;
    } catch (error) {
      log({ event: "blob.fill_failed", digest: digest.value, upstream: prefix, error: String(error) });
      this.forgetDownload(spool);
      spool.fail(error instanceof Error ? error : new Error("fill failed"));
      return false;
    }
    spool.finish(verified, hold());
    if (!verified) {
      log({ event: "blob.rejected", digest: digest.value, size: spool.size, upstream: prefix });
      this.forgetDownload(spool);
    }
    return verified;
  }

  /**
   * A small blob: spooled in memory instead of the object's storage, then uploaded by this invocation
   * once the isolate's clients are quiet. Readers join as for any spool. There is no alarm to retry the
   * upload or resume it after a restart: a blob it failed to store is fetched again by the next pull.
   */
  private spoolInMemory(
    services: Services,
    owner: Owner,
    digest: Digest,
    body: ReadableStream<Uint8Array>,
    size: number,
    restricted: boolean,
  ): Spool {
    memorySpooled += size;
    const spool: Spool = Spool.inMemory(size, restricted, () => {
      memorySpooled -= size;
      this.forgetDownload(spool);
    });
    const downloaded = copyVerified(body, spool, digest, READER_WAIT_MS);
    this.ctx.waitUntil(this.uploadFromMemory(services, owner, digest, spool, downloaded));
    return spool;
  }

  private async uploadFromMemory(
    services: Services,
    owner: Owner,
    digest: Digest,
    spool: Spool,
    downloaded: Promise<boolean>,
  ): Promise<void> {
    const { blobStore } = services;
    // Held until the store has answered: requests meanwhile join the spool instead of fetching again.
    if (!(await this.verdict(services, owner, digest, spool, downloaded, () => true))) return;
    await uploadMayStart();
    const reader = spool.reader({ background: true });
    // A store that throws is a store that refused, and one that gave up without reading to the end must
    // not keep its reader: the spool (and its memory) goes once its readers are done.
    const stored = await blobStore
      .put(digest, reader, spool.size, { restricted: spool.restricted })
      .catch(() => false);
    await reader.cancel().catch(() => {});
    spool.release();
    await this.uploaded(services, digest, spool.size, owner.upstream.prefix, stored);
  }

  /**
   * A blob larger than a spool may be: stored as it streams to the client that asked for it (see
   * StoreThrough); nothing waits for an alarm, and nothing is left in this object's storage.
   */
  private storeThrough(
    services: Services,
    owner: Owner,
    digest: Digest,
    body: ReadableStream<Uint8Array>,
    size: number,
    restricted: boolean,
  ): StoreThrough {
    const { log, blobStore } = services;
    const upstream = owner.upstream;
    const through = new StoreThrough(
      body,
      size,
      digest,
      restricted,
      upstream.timeout * 1000,
      (stream, verdict) => blobStore.put(digest, stream, size, { restricted, verdict }),
      {
        windowBytes: services.config.clientWindowBytes,
        // A client that fell behind continues on its own: from R2 if the store lands within a short
        // wait (no second upstream GET), else from the upstream at its offset; its stream hashes the
        // whole blob either way.
        resume: async (offset) => {
          await within(through.done, CATCH_UP_STORE_WAIT_MS);
          const stored = await blobStore.get(digest, { offset, length: size - offset });
          return (
            stored?.body ?? (await upstreamFrom(services.registry(upstream), owner.name, digest, offset))
          );
        },
      },
    );
    this.ctx.waitUntil(
      through.done.then(async ({ verified, stored }) => {
        this.forgetDownload(through);
        const event = stored ? "blob.stored" : verified ? "blob.store_failed" : "blob.fill_failed";
        log({ event, digest: digest.value, size, upstream: upstream.prefix });
        if (stored) await this.stored(services, size);
      }),
    );
    return through;
  }

  /**
   * The Free plan's fill (PLAN = "free"): the upstream's body piped natively into one R2 put that checks
   * length and hash itself, so this invocation spends no CPU per byte; its clients are sent to the
   * upstream. A blob above the multipart threshold is not stored (a multipart upload is not checked
   * against the digest by R2, and checking it here would cost CPU per byte): every pull streams it.
   */
  private pipeToStore(
    services: Services,
    owner: Owner,
    digest: Digest,
    body: ReadableStream<Uint8Array>,
    size: number,
    restricted: boolean,
  ): PipedStore {
    const { log, blobStore, config } = services;
    const prefix = owner.upstream.prefix;
    const storable = size <= config.multipartThreshold;
    const storing = storable
      ? blobStore.put(digest, body, size, { restricted })
      : body.cancel().then(() => false);
    const piped = new PipedStore(size, restricted, storing);
    this.ctx.waitUntil(
      piped.done.then(async (stored) => {
        this.forgetDownload(piped);
        if (!storable) {
          log({
            event: "blob.not_stored",
            digest: digest.value,
            size,
            upstream: prefix,
            reason: "too large for the Free plan",
          });
          return;
        }
        log({
          event: stored ? "blob.stored" : "blob.store_failed",
          digest: digest.value,
          size,
          upstream: prefix,
        });
        if (stored) await this.stored(services, size);
      }),
    );
    return piped;
  }

  /** Forgets a finished download, so the next request starts afresh (or finds the blob stored). */
  private forgetDownload(spool: Fill): void {
    if (this.current?.spool === spool) this.current = null;
  }

  /** Forgets the pending upload; its rows go once no reader is left. */
  dropPending(spool: Spool | null): void {
    this.pending.clear();
    if (spool) spool.release();
    else Spool.clear(this.ctx.storage.sql);
  }

  /** Takes up a verified spool an earlier instance of this object left with its upload pending. */
  private resumePending(services: Services): void {
    const pending = this.pending.get();
    if (!pending) return;
    const upstream = services.config.upstreams.get(pending.upstream);
    const spool: Spool | null = upstream
      ? Spool.resume(this.ctx.storage.sql, pending.size, pending.restricted, () =>
          this.forgetDownload(spool as Spool),
        )
      : null;
    if (!upstream || !spool) {
      this.dropPending(null);
      return;
    }
    this.current = { owner: { upstream, name: pending.name }, fill: Promise.resolve(spool), spool };
    // The old instance's alarm normally still stands; set one only if it was lost.
    const storage = this.ctx.storage;
    this.ctx.waitUntil(
      storage
        .getAlarm()
        .then((at) => (at === null ? storage.setAlarm(Date.now()) : undefined))
        .catch(() => {}),
    );
  }
}

/** Resolves when `promise` settles, or after `ms` at the latest. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise.catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
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

interface Owner {
  readonly upstream: UpstreamConfig;
  readonly name: string;
}

/**
 * A download readers join: spooled, or (too large for a spool) stored as it streams to one client, or
 * (the Free plan) piped into the store while clients read the upstream.
 */
export type Fill = Spool | StoreThrough | PipedStore;

interface Download {
  readonly owner: Owner;
  readonly fill: Promise<Fill | null>;
  /** Set once the download has started (null: the blob was stored already). */
  spool?: Fill | null;
}
