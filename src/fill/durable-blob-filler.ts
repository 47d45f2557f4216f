import type { BlobFiller, BlobResult } from "../mirror/blobs";
import type { Digest } from "../oci/digest";
import { type ByteRange, type RangeSpec, rangeHeader } from "../oci/range";
import type { RegistryClient } from "../upstream/client";
import { foregroundBody } from "../util/foreground";
import type { BlobFill } from "./blob-fill-object";
import { errorFromResponse, FillHeaders } from "./protocol";

/** The Worker's side of the blob fill Durable Object: one object per digest. */
export class DurableBlobFiller implements BlobFiller {
  constructor(private readonly fills: DurableObjectNamespace<BlobFill>) {}

  /** One call to the digest's object, which waits on its own storage. */
  settled(digest: Digest, timeoutMs: number): Promise<boolean> {
    return this.fills.get(this.fills.idFromName(digest.value)).settled(timeoutMs);
  }

  async fill(client: RegistryClient, name: string, digest: Digest): Promise<BlobResult | null> {
    const response = await this.ask(client, name, digest, "GET");
    if (!response) return null;
    const size = Number(response.headers.get(FillHeaders.size));
    // Counted as foreground until the Worker has handed the last byte on: the fill object's own reader
    // ends earlier, while its bytes still wait in the pipes between the object and the client.
    return { size, body: foregroundBody(response.body ?? new ReadableStream(), size), cache: "MISS" };
  }

  async inFlight(
    client: RegistryClient,
    name: string,
    digest: Digest,
    range: RangeSpec | null,
  ): Promise<BlobResult | null> {
    const header = range ? rangeHeader(range) : undefined;
    const response = await this.ask(client, name, digest, range ? "GET" : "HEAD", header);
    if (!response) return null;
    const size = Number(response.headers.get(FillHeaders.size));
    if (!range) return { size, body: null, cache: "MISS" };
    const match = /^bytes (\d+)-(\d+)\//.exec(response.headers.get("Content-Range") ?? "");
    if (!match || !response.body) throw new Error("fill answered a range without Content-Range");
    const byteRange: ByteRange = { start: Number(match[1]), end: Number(match[2]) };
    const body = foregroundBody(response.body, byteRange.end - byteRange.start + 1);
    return { size, body, range: byteRange, cache: "MISS" };
  }

  /** Null when the object has no download for us (stored meanwhile, or none in progress). */
  private async ask(
    client: RegistryClient,
    name: string,
    digest: Digest,
    method: "GET" | "HEAD",
    range?: string,
  ): Promise<Response | null> {
    const stub = this.fills.get(this.fills.idFromName(digest.value));
    const headers: Record<string, string> = {
      [FillHeaders.upstream]: client.upstream.prefix,
      [FillHeaders.name]: name,
      [FillHeaders.digest]: digest.value,
    };
    if (range) headers.Range = range;
    const response = await stub.fetch("https://blob-fill.internal/", { method, headers });
    if (response.status === 409 && response.headers.get(FillHeaders.stored)) return null;
    if (!response.ok) throw await errorFromResponse(response);
    return response;
  }
}
