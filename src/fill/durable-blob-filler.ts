import type { BlobFiller, BlobResult } from "../mirror/blobs";
import type { Digest } from "../oci/digest";
import type { RegistryClient } from "../upstream/client";
import { withLength } from "../util/streams";
import { errorFromResponse, FillHeaders } from "./protocol";

/** The Worker's side of the blob fill Durable Object: one object per digest. */
export class DurableBlobFiller implements BlobFiller {
  constructor(private readonly fills: DurableObjectNamespace) {}

  async fill(client: RegistryClient, name: string, digest: Digest): Promise<BlobResult | null> {
    const stub = this.fills.get(this.fills.idFromName(digest.value));
    const response = await stub.fetch("https://blob-fill.internal/", {
      headers: {
        [FillHeaders.upstream]: client.upstream.prefix,
        [FillHeaders.name]: name,
        [FillHeaders.digest]: digest.value,
      },
    });
    if (response.status === 409 && response.headers.get(FillHeaders.stored)) return null;
    if (!response.ok || !response.body) throw await errorFromResponse(response);
    const size = Number(response.headers.get(FillHeaders.size));
    return { size, body: withLength(response.body, size), cache: "MISS" };
  }
}
