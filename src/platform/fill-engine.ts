import { fetchesRestricted, tableSink } from "../access/blobs";
import type { UpstreamConfig } from "../config";
import type { Digest } from "../oci/digest";
import { RegistryError } from "../oci/errors";
import { repositoryName } from "../storage/blob-links";
import type { Fill, ResumableUpload, UploadLimits } from "../storage/fill";
import type { LinkTable } from "../storage/link-table";
import { heldBytes, limitHeldBytes } from "../util/held-bytes";
import { FillMachine, type TransitionDetails } from "./fill-machine";
import type { FillServices } from "./fill-services";
import { fillFor } from "./fill-ways";
import { describe } from "./log";
import { MultipartLeftovers } from "./multipart-leftovers";
import { alarmWithin, RETRY_MS, SWEEP_MS, UPLOAD_LIMITS, UploadAlarm } from "./upload-alarm";

interface Owner {
  readonly upstream: UpstreamConfig;
  readonly name: string;
}

/** The download in progress (or its verified bytes waiting for the store). */
interface Download {
  readonly owner: Owner;
  readonly digest: Digest;
  /** The fill, once the upstream has answered; null: the blob was in the store already. */
  ready: Promise<Fill | null>;
  /** Its verified bytes, recorded for the object's alarm to upload (see Fill.store). */
  upload: ResumableUpload | null;
}

/**
 * A digest's fill, as its fill object runs it: the first whole GET starts the one upstream download,
 * every request while it lasts joins it (another repository's only once the access module agrees),
 * and the verified bytes go to the store the way their fill does it. Every change of state goes
 * through the FillMachine; the object's alarm drives an upload the fill left pending (a SQLite spool
 * the put that streamed with its download did not store) with `alarm`.
 */
export class FillEngine {
  private download: Download | null = null;
  private machine: FillMachine | null = null;
  /** The alarm's side: uploads left to it, sweeps. */
  private readonly uploads: UploadAlarm;
  /** Multipart uploads of store-through downloads, aborted by the alarm when an instance left them. */
  private readonly multiparts: MultipartLeftovers;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly links: LinkTable,
    limits: Omit<UploadLimits, "multipartThreshold"> = UPLOAD_LIMITS,
  ) {
    this.uploads = new UploadAlarm(ctx, limits);
    this.multiparts = new MultipartLeftovers(ctx, { sweepMs: SWEEP_MS, retryMs: RETRY_MS });
  }

  /** A download is in progress, or verified bytes wait for the store. */
  get busy(): boolean {
    return this.download !== null || this.uploads.waiting;
  }

  /** The fill's state (for specs and the log). */
  get state(): string {
    return this.machine?.state ?? "idle";
  }

  /**
   * Joins the download in progress, or starts one (`start`: a whole GET). Null: no download (and none
   * started), or the blob is in the store. If a download started for another repository fails, this
   * one tries its own.
   */
  async join(services: FillServices, me: Owner, digest: Digest, start: boolean): Promise<Fill | null> {
    limitHeldBytes(services.config.fillMemoryBytes);
    // At most two rounds: our own download is started on the second at the latest.
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!this.download) this.takeUpPending(services);
      if (!this.download && !start) return null;
      const download = this.download ?? this.begin(services, me, digest);
      const { owner } = download;
      const mine = owner.upstream.prefix === me.upstream.prefix && owner.name === me.name;
      let fill: Fill | null;
      try {
        fill = await download.ready;
      } catch (error) {
        if (mine || attempt > 0) throw error;
        if (!start) return null;
        continue;
      }
      if (!fill) return null;
      // A confirmed link goes straight into this object's table: no call to ourselves.
      const confirming = services.blobAccess.admitToDownload(
        services.registry(me.upstream),
        me.name,
        digest,
        { restricted: fill.restricted, owner: { upstream: owner.upstream.prefix, name: owner.name } },
        tableSink(this.links),
      );
      if (confirming) await confirming;
      // A fill whose bytes went meanwhile is in the store (or gone): the Worker looks there.
      return fill.gone ? null : fill;
    }
    throw new RegistryError(502, "UNAVAILABLE", "the blob could not be fetched");
  }

  /**
   * The object's alarm: one step of a pending upload (taken up from storage after a restart), or,
   * with none, a sweep of rows an evicted download left.
   */
  async alarm(services: FillServices): Promise<void> {
    try {
      await this.alarmStep(services);
    } finally {
      // Whatever the step did is logged before the object waits for its next alarm.
      this.machine?.flush();
    }
  }

  private async alarmStep(services: FillServices): Promise<void> {
    limitHeldBytes(services.config.fillMemoryBytes);
    await this.multiparts.abortLeft(services.blobStore, services.log);
    if (!this.download) this.takeUpPending(services);
    const download = this.download;
    const machine = this.machine;
    if (!download || !machine) {
      // No download: rows an evicted one left go.
      await this.uploads.sweep();
      return;
    }
    const upload = download.upload;
    if (!upload) {
      // Still downloading (or its put still streams) in this instance: look again later. A fill
      // without rows in storage leaves nothing for a sweep once its instance is gone.
      const fill = await download.ready.catch(() => null);
      if (fill?.rowsInStorage) await alarmWithin(this.ctx.storage, SWEEP_MS);
      return;
    }
    const { blobStore, config } = services;
    const ended = await this.uploads.step(
      machine,
      upload,
      blobStore,
      download.digest,
      config.multipartThreshold,
    );
    if (!ended) return;
    this.end(download, ended.state, ended.details);
    if (ended.state === "stored") await this.countStored(services, upload.size);
  }

  private machineFor(digest: Digest, services: FillServices): FillMachine {
    this.machine ??= new FillMachine(digest.value, () => services.log);
    return this.machine;
  }

  /** Starts the download, set before the first await so requests arriving meanwhile join it. */
  private begin(services: FillServices, owner: Owner, digest: Digest): Download {
    const machine = this.machineFor(digest, services);
    // Only this object stores this digest: the store is asked again only after its own upload.
    const askStore = machine.is("stored");
    machine.to("downloading", { upstream: owner.upstream.prefix, name: owner.name });
    const download: Download = { owner, digest, ready: Promise.resolve(null), upload: null };
    this.download = download;
    download.ready = this.open(services, download, askStore);
    return download;
  }

  private async open(services: FillServices, download: Download, askStore: boolean): Promise<Fill | null> {
    const { owner, digest } = download;
    const { upstream, name } = owner;
    try {
      if (askStore && (await services.blobStore.head(digest))) {
        this.end(download, "stored", { found: "in the store" });
        return null;
      }
      const client = services.registry(upstream);
      const { size, body: upstreamBody } = await client.openBlob(name, digest);
      // Fetched with credentials, the blob may be private: only repositories known to hold it serve it.
      const restricted = fetchesRestricted(client);
      // The upstream just served it for this repository: a link (no KV write, no call: our own table).
      if (restricted) this.links.link(repositoryName({ upstream: upstream.prefix, name }));
      const fill = fillFor(
        services,
        this.ctx.storage.sql,
        { ...download, size, restricted },
        upstreamBody,
        this.multiparts.watch(services.log, digest),
      );
      // A download that takes a while: its start is logged now (a quick one's with its end, on one line).
      if (!fill.quick) this.machineFor(digest, services).flush();
      // Rows of a download this instance does not live to finish are swept by the alarm.
      if (fill.rowsInStorage) {
        this.ctx.waitUntil(alarmWithin(this.ctx.storage, SWEEP_MS).catch(() => {}));
      }
      this.ctx.waitUntil(this.follow(services, download, fill));
      return fill;
    } catch (error) {
      this.end(download, "failed", { cause: "fill_failed", error: describe(error) });
      throw error;
    }
  }

  /**
   * The fill after its start, in order: the verdict; then the fill stores its bytes its own way (a
   * SQLite spool its put did not store is recorded and left to the alarm). Clients never wait for it:
   * they stream meanwhile.
   */
  private async follow(services: FillServices, download: Download, fill: Fill): Promise<void> {
    const size = fill.size;
    const end = await fill.downloaded;
    if (!end.verified) {
      this.end(download, "failed", { cause: end.cause, error: end.error, size, way: fill.way });
      return;
    }
    const machine = this.machineFor(download.digest, services);
    const outcome = await fill.store({
      verified: (details) => machine.to("verified", details),
      uploading: (details) => machine.to("uploading", details),
    });
    switch (outcome.kind) {
      case "stored":
        this.end(download, "stored", { size, way: fill.way, ...outcome.details });
        await this.countStored(services, size);
        return;
      case "failed":
        this.end(download, "failed", {
          cause: "store_failed",
          error: "error" in outcome ? describe(outcome.error) : undefined,
          size,
          way: fill.way,
        });
        return;
      case "pending":
        try {
          download.upload = outcome.upload;
          await this.ctx.storage.setAlarm(Date.now());
          machine.flush();
        } catch (error) {
          download.upload = null;
          outcome.upload.forget();
          this.end(download, "failed", {
            cause: "store_failed",
            error: describe(error),
            size,
            way: fill.way,
          });
        }
        return;
    }
  }

  /** The fill is over: the state changes, the next request starts afresh, the bytes go after their readers. */
  private end(
    download: Download,
    state: "stored" | "failed" | "abandoned",
    details: TransitionDetails,
  ): void {
    // What the fills of this isolate hold in memory, and the most they held: on the platform the fill
    // objects' isolates are not the Worker's, whose `/_/ops` cannot see them.
    const { held, peak } = heldBytes();
    this.machine?.to(state, { ...details, held, heldPeak: peak });
    if (this.download === download) this.download = null;
    download.ready
      .then((fill) => {
        fill?.release();
        // Rows a slow client still reads outlive the fill: if the instance is evicted meanwhile, the
        // next one's sweep drops them.
        if (fill?.rowsInStorage && !fill.gone)
          this.ctx.waitUntil(alarmWithin(this.ctx.storage, SWEEP_MS).catch(() => {}));
      })
      .catch(() => {});
  }

  /** The blob landed in the store: counted in the mirror's totals. */
  private async countStored(services: FillServices, size: number): Promise<void> {
    services.stats.blobStored(size);
    await services.stats.flushIfDue().catch(() => {});
  }

  /** Takes up a verified spool an earlier instance of this object left with its upload pending. */
  private takeUpPending(services: FillServices): void {
    const taken = this.uploads.takeUp(services.config.upstreams, services.blobStore, services.log);
    if (!taken) return;
    const { upstream, name, digest, upload } = taken;
    this.machineFor(digest, services).to("verified", { taken_up: "after a restart", size: upload.size });
    this.download = { owner: { upstream, name }, digest, ready: Promise.resolve(upload), upload };
  }
}
