import type { BlobFiller, BlobResult } from "../mirror/blobs";
import { type Digest, verifiedBody } from "../oci/digest";
import type { RangeSpec } from "../oci/range";
import type { RemoteRegistry } from "../upstream/remote-registry";
import { foregroundBody } from "../util/foreground";
import { idleTimeout } from "../util/streams";
import type { BlobFill } from "./blob-fill";
import type { BlobJob, OpenedBlob } from "./blob-fill-contract";
import { type HeardOutcome, unwrap } from "./outcome";

/** The Worker's side of the blob fill Durable Object: one object per digest, called by RPC. */
export class DurableBlobFiller implements BlobFiller {
  constructor(
    private readonly fills: DurableObjectNamespace<BlobFill>,
    /** Told when the digest's object could not be reached (the upstream then serves the request). */
    private readonly unreachable: (error: unknown) => void = () => {},
    /** Told the statuses of the upstream answers the object got for a call (for the audit line). */
    private readonly heard: (statuses: readonly number[]) => void = () => {},
    /**
     * The Free plan (10 ms of CPU): a blob streamed from the upstream is piped to the client natively,
     * its length enforced but not hashed here (the client checks the digest; nothing unchecked is stored).
     */
    private readonly native = false,
    /** Keeps work going after the response (a client that hung up ends it). */
    private readonly waitUntil: (promise: Promise<unknown>) => void = () => {},
  ) {}

  /** One call to the digest's object, which waits on its own storage. */
  settled(digest: Digest, timeoutMs: number): Promise<boolean> {
    return this.stub(digest).settled(timeoutMs);
  }

  async fill(
    client: RemoteRegistry,
    name: string,
    digest: Digest,
    hungUp?: (size: number) => void,
  ): Promise<BlobResult | null> {
    const opened = await this.open(client, name, digest, "GET", null);
    if (opened.kind === "elsewhere") return null;
    if (opened.kind === "upstream") {
      // A download this client cannot share (too large to spool, or its spool lost to storage), or an
      // object that could not be reached: this client gets the blob straight from the upstream, checked
      // as it passes like every fill, and not stored.
      const { size, body } = await client.openBlob(name, digest);
      if (this.native) return { size, body: foregroundBody(body, size), cache: "MISS" };
      const checked = verifiedBody(idleTimeout(body, client.upstream.timeout * 1000), digest, size);
      return { size, body: foregroundBody(checked, size), cache: "MISS" };
    }
    // Counted as foreground until the Worker has handed the last byte on: the fill object's own reader
    // ends earlier, while its bytes still wait in the pipes between the object and the client.
    const size = opened.size;
    // The pipe to the client failed: the client left, or the fill failed. Only a fill that goes on
    // (or is stored already) spends what the client left behind: the object says which it was.
    const failed = () => {
      if (!hungUp) return;
      // The client is gone: the question outlives the response only through waitUntil.
      this.waitUntil(
        this.stub(digest)
          .goesOn()
          .then((on) => on && hungUp(size))
          .catch(() => {}),
      );
    };
    const body = foregroundBody(opened.body ?? new ReadableStream(), size, failed);
    return { size, body, cache: "MISS" };
  }

  async inFlight(
    client: RemoteRegistry,
    name: string,
    digest: Digest,
    range: RangeSpec | null,
  ): Promise<BlobResult | null> {
    const opened = await this.open(client, name, digest, range ? "GET" : "HEAD", range);
    // A range (or size) the object cannot answer from a download comes from the upstream.
    if (opened.kind === "elsewhere" || opened.kind === "upstream") return null;
    if (!range) return { size: opened.size, body: null, cache: "MISS" };
    if (!opened.range || !opened.body) throw new Error("the fill answered a range without its bytes");
    const body = foregroundBody(opened.body, opened.range.end - opened.range.start + 1);
    return { size: opened.size, body, range: opened.range, cache: "MISS" };
  }

  private async open(
    client: RemoteRegistry,
    name: string,
    digest: Digest,
    method: BlobJob["method"],
    range: RangeSpec | null,
  ): Promise<OpenedBlob> {
    const job: BlobJob = { upstream: client.upstream.prefix, name, digest: digest.value, method, range };
    let outcome: HeardOutcome<OpenedBlob>;
    try {
      outcome = await this.stub(digest).open(job);
    } catch (error) {
      // The object itself failed (overloaded, reset, its storage broken): no pull fails for that while
      // the upstream can serve it. Its answers (registry errors included) come as outcomes, not here.
      this.unreachable(error);
      return { kind: "upstream" };
    }
    this.heard(outcome.upstreamStatuses ?? []);
    return unwrap(outcome);
  }

  private stub(digest: Digest): DurableObjectStub<BlobFill> {
    return this.fills.get(this.fills.idFromName(digest.value));
  }
}
