import { DurableObject } from "cloudflare:workers";
import { parseDigest } from "../oci/digest";
import { nameUnknown } from "../oci/errors";
import { resolveRange } from "../oci/range";
import { LinkTable } from "../storage/link-table";
import type { BlobJob, OpenedBlob } from "./blob-fill-contract";
import { FillEngine } from "./fill-engine";
import type { FillServices } from "./fill-services";
import { type HeardOutcome, heard, outcomeOf } from "./outcome";

/** How long `settled` waits at most, and how often it looks (its own storage only: no subrequest). */
const SETTLE_MAX_MS = 60_000;
const SETTLE_POLL_MS = 50;

/**
 * One instance per blob digest (`idFromName(digest)`): concurrent misses of the same blob, from any
 * Worker isolate anywhere, share a single upstream download (see FillEngine), which every client
 * reads from the first byte at its own pace; the fill goes on when a client goes away. The verified
 * bytes reach the store by the fill's own way; a spool in SQLite by the object's alarm, in resumable
 * steps.
 *
 * What it needs comes from the composition root (`services`, see platform/objects.ts): it does not
 * read the environment itself.
 */
export class BlobFill extends DurableObject<unknown> {
  /** Repositories this digest is linked to (see BlobLinks). */
  private readonly links: LinkTable;
  private readonly engine: FillEngine;

  constructor(
    ctx: DurableObjectState,
    env: unknown,
    /** `alarm`: built for the object's alarm rather than a call (the benchmark counts them apart). */
    private readonly services: (invocation?: "alarm") => FillServices,
  ) {
    super(ctx, env);
    this.links = new LinkTable(ctx.storage.sql);
    this.engine = new FillEngine(ctx, this.links);
  }

  /**
   * Resolves true once this digest has no download and no upload in progress (the blob is stored, or
   * was never fetched), false after `timeoutMs` (RPC: a warm-up waits for what it fetched to be stored).
   */
  async settled(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + Math.min(timeoutMs, SETTLE_MAX_MS);
    while (this.engine.busy) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
    }
    return true;
  }

  /**
   * Whether this digest's fill goes on or has ended stored (RPC: a client whose body failed left it,
   * and is charged for it, unless the fill itself failed).
   */
  goesOn(): boolean {
    return this.engine.busy || this.engine.state === "stored";
  }

  /** When a repository (`upstream/name`) was last linked to this digest (RPC from DurableBlobLinks). */
  linkedAt(repository: string): number | null {
    return this.links.linkedAt(repository);
  }

  /** Links a repository the upstream confirmed this digest for (RPC from DurableBlobLinks). */
  link(repository: string): void {
    this.links.link(repository);
  }

  /** A blob for the Worker (RPC): the download in progress, started for a whole GET. */
  async open(job: BlobJob): Promise<HeardOutcome<OpenedBlob>> {
    let statuses: readonly number[] = [];
    const outcome = await outcomeOf(async () => {
      const services = this.services();
      statuses = services.upstreamStatuses;
      return this.opened(services, job);
    }, "the blob could not be fetched");
    // The download's upstream answers, when this call started it, go to the Worker's audit line.
    return heard(outcome, statuses);
  }

  private async opened(services: FillServices, job: BlobJob): Promise<OpenedBlob> {
    const upstream = services.config.upstreams.get(job.upstream);
    if (!upstream) throw nameUnknown(`unknown upstream prefix "${job.upstream.slice(0, 64)}"`);
    const digest = parseDigest(job.digest);
    // A HEAD, or a Range request, only joins a download in progress; a whole GET starts one.
    const joinOnly = job.method === "HEAD" || job.range !== null;
    const fill = await this.engine.join(services, { upstream, name: job.name }, digest, !joinOnly);
    // Stored meanwhile (or, for joinOnly, no download in progress): the Worker looks elsewhere.
    if (!fill) return { kind: "elsewhere" };
    const size = fill.size;
    if (job.method === "HEAD") return { kind: "download", size, body: null };
    const range = job.range ? resolveRange(job.range, size) : null;
    const body = fill.read(range);
    // A fill this client cannot read from the start (too large to spool, or its spool lost rows).
    if (!body) return { kind: "upstream" };
    return range ? { kind: "download", size, body, range } : { kind: "download", size, body };
  }

  /** Drives the fill's upload (a step of it) or sweeps what an evicted download left. */
  override async alarm(): Promise<void> {
    await this.engine.alarm(this.services("alarm"));
  }
}
