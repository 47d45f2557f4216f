import { DurableObject } from "cloudflare:workers";
import { fetchesRestricted, tableSink } from "../access/blobs";
import type { UpstreamConfig } from "../config";
import { type Digest, parseDigest } from "../oci/digest";
import { nameUnknown, RegistryError } from "../oci/errors";
import { resolveRange } from "../oci/range";
import { repositoryName } from "../storage/blob-links";
import { LinkTable } from "../storage/link-table";
import { PendingUploads } from "../storage/pending-upload";
import { Spool } from "../storage/spool";
import { copyVerified } from "../storage/spool-copy";
import { givingWayToClients } from "../util/foreground";
import { idleTimeout, rechunk } from "../util/streams";
import type { BlobJob, OpenedBlob } from "./blob-fill-contract";
import type { Env } from "./env";
import { type Outcome, outcomeOf } from "./outcome";
import { type Services, servicesFor } from "./services";

/** Size of the pieces a download is handled in (and of the spool's rows). */
const CHUNK_BYTES = 1024 * 1024;
/** The first piece is small, so the first bytes reach clients without waiting for a whole MiB. */
const FIRST_CHUNK_BYTES = 64 * 1024;
/**
 * How long the upload to the store waits at most, before each chunk, for this isolate's clients to be
 * done: it gives way to them, yet keeps moving (≥ 1 chunk per this long) however busy the isolate is.
 */
const UPLOAD_PAUSE_MS = 250;
/** How long the download waits at most for its leading reader before each chunk. */
const READER_WAIT_MS = 200;
/** Tries of the upload of a verified spool (R2 trouble) before it is dropped; the next pull refetches. */
const UPLOAD_ATTEMPTS = 3;
/** Wait before trying a failed upload again. */
const UPLOAD_RETRY_MS = 5_000;
/** How long `settled` waits at most, and how often it looks (its own storage only: no subrequest). */
const SETTLE_MAX_MS = 60_000;
const SETTLE_POLL_MS = 50;

/**
 * One instance per blob digest (`idFromName(digest)`): concurrent misses of the same blob, from any
 * Worker isolate anywhere, share a single upstream download. The download streams into a spool in this
 * object's storage; every client reads the spool from the start at its own pace, receiving bytes as
 * they arrive, and once the bytes are verified the spool is uploaded to R2 by the object's alarm. The
 * fill goes on when a client goes away.
 *
 * The upload runs in an alarm, not in the request that started the download: it is retried if R2
 * fails and resumes from storage if the object is restarted. It gives way to clients (see
 * `givingWayToClients`), which is what keeps a pull's next request from waiting behind it.
 */
export class BlobFill extends DurableObject<Env> {
  /** The download in progress (or being started), and for which repository it was started. */
  private current: Download | null = null;
  /** The alarm is uploading the verified spool. */
  private uploading = false;
  /** Repositories this digest is linked to (see BlobLinks). */
  private readonly links: LinkTable;
  /** The verified spool waiting for its upload, if any. */
  private readonly pending: PendingUploads;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.links = new LinkTable(ctx.storage.sql);
    this.pending = new PendingUploads(ctx.storage.sql);
  }

  /**
   * Resolves true once this digest has no download and no upload in progress (the blob is stored, or
   * was never fetched), false after `timeoutMs` (RPC: a warm-up waits for what it fetched to be stored).
   */
  async settled(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + Math.min(timeoutMs, SETTLE_MAX_MS);
    while (this.current || this.pending.get()) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
    }
    return true;
  }

  /** When a repository (`upstream/name`) was last linked to this digest (RPC from DurableBlobLinks). */
  linkedAt(repository: string): number | null {
    return this.links.linkedAt(repository);
  }

  /** Links a repository the upstream confirmed this digest for (RPC from DurableBlobLinks). */
  link(repository: string): void {
    this.links.link(repository);
  }

  /** Forgets a finished download, so the next request starts afresh (or finds the blob stored). */
  private forgetDownload(spool: Spool): void {
    if (this.current?.spool === spool) this.current = null;
  }

  /** A blob for the Worker (RPC): the spool of the download in progress, started for a whole GET. */
  open(job: BlobJob): Promise<Outcome<OpenedBlob>> {
    return outcomeOf(async () => {
      const services = servicesFor(this.env);
      const upstream = services.config.upstreams.get(job.upstream);
      if (!upstream) throw nameUnknown(`unknown upstream prefix "${job.upstream.slice(0, 64)}"`);
      const digest = parseDigest(job.digest);
      // A HEAD, or a Range request, only joins a download in progress; a whole GET starts one.
      const joinOnly = job.method === "HEAD" || job.range !== null;
      const spool = await this.join(services, { upstream, name: job.name }, digest, !joinOnly);
      // Stored meanwhile (or, for joinOnly, no download in progress): the Worker looks elsewhere.
      if (!spool) return { kind: "elsewhere" };
      const size = spool.size;
      if (job.method === "HEAD") return { kind: "spool", size, body: null };
      if (!job.range) return { kind: "spool", size, body: spool.reader() };
      const range = resolveRange(job.range, size);
      return { kind: "spool", size, body: spool.reader({ range }), range };
    }, "the blob could not be fetched");
  }

  /**
   * Joins the download in progress, or starts one. Whether this repository may read a download started
   * for another is the access module's answer (a restricted one: once the upstream confirms it). If a
   * download started for another repository fails, this one tries its own.
   */
  private async join(services: Services, me: Owner, digest: Digest, start: boolean): Promise<Spool | null> {
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
      let spool: Spool | null;
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
          services.client(me.upstream),
          me.name,
          digest,
          { restricted: spool.restricted, owner: { upstream: owner.upstream.prefix, name: owner.name } },
          tableSink(this.links),
        );
      if (confirming) await confirming;
      // A download that ended while we were confirming is in the store (or gone): the Worker looks there.
      return spool?.disposed ? null : spool;
    }
    throw new RegistryError(502, "UNAVAILABLE", "the blob could not be fetched");
  }

  /** Starts the upstream download; null when the blob turned out to be stored already. */
  private async start(services: Services, owner: Owner, digest: Digest): Promise<Spool | null> {
    const { upstream, name } = owner;
    const prefix = upstream.prefix;
    if (await services.blobStore.head(digest)) return null;
    const client = services.client(upstream);
    const { size, body: upstreamBody } = await client.openBlob(name, digest);
    // Fetched with credentials, the blob may be private: only repositories known to hold it serve it.
    const restricted = fetchesRestricted(client);
    // Idle once finished and every reader (the store's upload too) is done: the next request starts
    // afresh or finds the blob stored.
    const spool: Spool = Spool.create(this.ctx.storage.sql, size, restricted, () =>
      this.forgetDownload(spool),
    );
    // The upstream just served it for this repository: a link (no KV write, no call: our own table).
    if (restricted) this.links.link(repositoryName({ upstream: prefix, name }));
    // 1 MiB chunks: the hash, the spool and the readers then work per MiB, not per network packet.
    const body = idleTimeout(rechunk(upstreamBody, CHUNK_BYTES, FIRST_CHUNK_BYTES), upstream.timeout * 1000);
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
    let verified: boolean;
    try {
      verified = await downloaded;
    } catch (error) {
      log({ event: "blob.fill_failed", digest: digest.value, upstream: prefix, error: String(error) });
      this.forgetDownload(spool);
      spool.fail(error instanceof Error ? error : new Error("fill failed"));
      return;
    }
    spool.finish(verified, true);
    if (!verified) {
      log({ event: "blob.rejected", digest: digest.value, size: spool.size, upstream: prefix });
      this.forgetDownload(spool); // The next request fetches afresh.
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
   * Uploads the verified spool to the store. It gives way to every client streaming from this isolate
   * (UPLOAD_PAUSE_MS), so it does not compete with them for the thread; the store checks length and hash
   * once more on its side and keeps nothing else. Until the store has answered, requests join the spool:
   * one that found neither would fetch the blob from the upstream a second time.
   */
  override async alarm(): Promise<void> {
    // One upload at a time: a second one would read the same spool and store the blob twice.
    if (this.uploading) return;
    this.uploading = true;
    try {
      await this.upload();
    } finally {
      this.uploading = false;
    }
  }

  private async upload(): Promise<void> {
    const services = servicesFor(this.env);
    const { log } = services;
    const pending = this.pending.get();
    if (!pending) return;
    if (!this.current?.spool) this.resumePending(services);
    const spool = this.current?.spool;
    if (!spool || spool.disposed) {
      this.dropPending(null);
      return;
    }
    const digest = parseDigest(pending.digest);
    const upload = givingWayToClients(spool.reader({ background: true }), UPLOAD_PAUSE_MS);
    const stored = await services.blobStore.put(digest, upload, pending.size, {
      restricted: spool.restricted,
    });
    log({
      event: stored ? "blob.stored" : "blob.store_failed",
      digest: digest.value,
      size: pending.size,
      upstream: pending.upstream,
    });
    if (!stored && pending.attempts + 1 < UPLOAD_ATTEMPTS) {
      this.pending.countAttempt();
      await this.ctx.storage.setAlarm(Date.now() + UPLOAD_RETRY_MS);
      return;
    }
    this.dropPending(spool);
    if (!stored) return;
    services.stats.blobStored(pending.size);
    await services.stats.flushIfDue().catch(() => {});
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

  /** Forgets the pending upload; its rows go once no reader is left. */
  private dropPending(spool: Spool | null): void {
    this.pending.clear();
    if (spool) spool.release();
    else Spool.clear(this.ctx.storage.sql);
  }
}

interface Owner {
  readonly upstream: UpstreamConfig;
  readonly name: string;
}

interface Download {
  readonly owner: Owner;
  readonly fill: Promise<Spool | null>;
  /** Set once the download has started (null: the blob was stored already). */
  spool?: Spool | null;
}
