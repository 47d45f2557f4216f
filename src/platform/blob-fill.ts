import { DurableObject } from "cloudflare:workers";
import { parseDigest } from "../oci/digest";
import { nameUnknown } from "../oci/errors";
import { resolveRange } from "../oci/range";
import { LinkTable } from "../storage/link-table";
import { PendingUploads } from "../storage/pending-upload";
import { PipedStore } from "../storage/piped-store";
import { StoreThrough } from "../storage/store-through";
import { givingWayToClients } from "../util/foreground";
import { BlobDownloads, uploadMayStart } from "./blob-download";
import type { BlobJob, OpenedBlob } from "./blob-fill-contract";
import type { Env } from "./env";
import { type HeardOutcome, heard, outcomeOf } from "./outcome";
import { type Services, servicesFor } from "./services";

/**
 * How long the upload to the store waits at most, before each chunk, for this isolate's clients to be
 * done: it gives way to them, yet keeps moving (≥ 1 chunk per this long) however busy the isolate is.
 */
const UPLOAD_PAUSE_MS = 250;
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
  /** The alarm is uploading the verified spool. */
  private uploading = false;
  /** Repositories this digest is linked to (see BlobLinks). */
  private readonly links: LinkTable;
  /** The verified spool waiting for its upload, if any. */
  private readonly pending: PendingUploads;
  /** The blob's download: started, joined, spooled, handed to the alarm. */
  private readonly downloads: BlobDownloads;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.links = new LinkTable(ctx.storage.sql);
    this.pending = new PendingUploads(ctx.storage.sql);
    this.downloads = new BlobDownloads(ctx, this.links, this.pending);
  }

  /**
   * Resolves true once this digest has no download and no upload in progress (the blob is stored, or
   * was never fetched), false after `timeoutMs` (RPC: a warm-up waits for what it fetched to be stored).
   */
  async settled(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + Math.min(timeoutMs, SETTLE_MAX_MS);
    while (this.downloads.busy || this.pending.get()) {
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

  /** A blob for the Worker (RPC): the spool of the download in progress, started for a whole GET. */
  async open(job: BlobJob): Promise<HeardOutcome<OpenedBlob>> {
    let statuses: readonly number[] = [];
    const outcome = await outcomeOf(async () => {
      const services = servicesFor(this.env);
      statuses = services.upstreamStatuses;
      return this.opened(services, job);
    }, "the blob could not be fetched");
    // The download's upstream answers, when this call started it, go to the Worker's audit line.
    return heard(outcome, statuses);
  }

  private async opened(services: Services, job: BlobJob): Promise<OpenedBlob> {
    const upstream = services.config.upstreams.get(job.upstream);
    if (!upstream) throw nameUnknown(`unknown upstream prefix "${job.upstream.slice(0, 64)}"`);
    const digest = parseDigest(job.digest);
    // A HEAD, or a Range request, only joins a download in progress; a whole GET starts one.
    const joinOnly = job.method === "HEAD" || job.range !== null;
    const fill = await this.downloads.join(services, { upstream, name: job.name }, digest, !joinOnly);
    // Stored meanwhile (or, for joinOnly, no download in progress): the Worker looks elsewhere.
    if (!fill) return { kind: "elsewhere" };
    const size = fill.size;
    if (job.method === "HEAD") return { kind: "download", size, body: null };
    // Piped into the store with no reader: clients stream from the upstream unless it has landed.
    if (fill instanceof PipedStore) return fill.stored ? { kind: "elsewhere" } : { kind: "upstream" };
    if (fill instanceof StoreThrough) {
      if (fill.finished) return { kind: "elsewhere" };
      const body = job.range ? null : fill.takeClient();
      return body ? { kind: "download", size, body } : { kind: "upstream" };
    }
    // Storage refused the spool: rows it lost are nowhere to read from the start.
    if (fill.storageFailed) return { kind: "upstream" };
    if (!job.range) return { kind: "download", size, body: fill.reader() };
    const range = resolveRange(job.range, size);
    return { kind: "download", size, body: fill.reader({ range }), range };
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
    const services = servicesFor(this.env, undefined, "alarm");
    const pending = this.pending.get();
    if (!pending) return;
    const spool = this.downloads.spool(services);
    if (!spool || spool.disposed) {
      this.downloads.dropPending(null);
      return;
    }
    const digest = parseDigest(pending.digest);
    // A retry goes at once: its first try already waited for the clients.
    if (pending.attempts === 0) await uploadMayStart();
    const upload = givingWayToClients(spool.reader({ background: true }), UPLOAD_PAUSE_MS);
    const stored = await services.blobStore.put(digest, upload, pending.size, {
      restricted: spool.restricted,
    });
    const retry = !stored && pending.attempts + 1 < UPLOAD_ATTEMPTS;
    if (!retry) this.downloads.dropPending(spool);
    await this.downloads.uploaded(services, digest, pending.size, pending.upstream, stored);
    if (retry) {
      this.pending.countAttempt();
      await this.ctx.storage.setAlarm(Date.now() + UPLOAD_RETRY_MS);
    }
  }
}
