import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { type Digest, parseDigest, toHex, webCryptoName } from "../oci/digest";
import { nameUnknown, RegistryError } from "../oci/errors";
import { type Services, servicesFor } from "../services";
import { upstreamError } from "../upstream/errors";
import { lockstepTee } from "../util/streams";
import { errorToResponse, FillHeaders } from "./protocol";
import { Spool } from "./spool";

/**
 * One instance per blob digest (`idFromName(digest)`): concurrent misses of the same blob, from any
 * Worker isolate anywhere, share a single upstream download. The download streams into R2 and into a
 * spool in this object's storage at once; every client reads the spool from the start at its own pace,
 * receiving bytes as they arrive. The fill goes on when a client goes away.
 */
export class BlobFill extends DurableObject<Env> {
  private current: Promise<Spool | null> | null = null;

  override async fetch(request: Request): Promise<Response> {
    try {
      const services = servicesFor(this.env);
      const prefix = request.headers.get(FillHeaders.upstream) ?? "";
      const upstream = services.config.upstreams.get(prefix);
      if (!upstream) throw nameUnknown(`unknown upstream prefix "${prefix.slice(0, 64)}"`);
      const name = request.headers.get(FillHeaders.name) ?? "";
      const digest = parseDigest(request.headers.get(FillHeaders.digest) ?? "");

      // Set before the first await, so requests arriving meanwhile join this fill.
      if (!this.current) {
        const started = this.start(services, upstream.prefix, name, digest);
        this.current = started;
        started.catch(() => {
          if (this.current === started) this.current = null;
        });
      }
      const spool = await this.current;
      if (!spool) {
        this.current = null;
        return this.fromStore(services, digest);
      }
      return new Response(spool.reader().pipeThrough(new FixedLengthStream(spool.size)), {
        headers: { [FillHeaders.size]: String(spool.size), [FillHeaders.cache]: "MISS" },
      });
    } catch (error) {
      return errorToResponse(error);
    }
  }

  /** Starts the upstream download; null when the blob turned out to be stored already. */
  private async start(
    services: Services,
    prefix: string,
    name: string,
    digest: Digest,
  ): Promise<Spool | null> {
    if (await services.blobStore.head(digest)) return null;
    const upstream = services.config.upstreams.get(prefix);
    if (!upstream) throw nameUnknown(`unknown upstream prefix "${prefix}"`);
    const client = services.client(upstream);
    const response = await client.request({ name, path: `blobs/${digest.value}`, method: "GET" });
    const context = { upstream: prefix, name, object: "blob" as const, authenticated: client.authenticated };
    if (!response.ok) throw await upstreamError(response, context);
    const claimed = response.headers.get("Docker-Content-Digest");
    const length = response.headers.get("Content-Length");
    if (
      (claimed?.startsWith(`${digest.algorithm}:`) && claimed !== digest.value) ||
      !length ||
      !/^\d+$/.test(length) ||
      !response.body
    ) {
      await response.body?.cancel();
      throw new RegistryError(502, "UNAVAILABLE", `upstream "${prefix}" sent an unusable blob response`);
    }
    const size = Number(length);
    const spool: Spool = new Spool(this.ctx.storage.sql, size, () => {
      if (this.current && spool.succeeded) this.current = null;
    });
    const [toStore, toSpool] = lockstepTee(response.body);
    const stored = services.blobStore.put(digest, toStore, size);
    const verified = pump(toSpool, spool, digest, size);
    const log = services.log;
    this.ctx.waitUntil(
      Promise.all([verified, stored]).then(
        ([ok, kept]) => {
          log({
            event: ok && kept ? "blob.stored" : "blob.rejected",
            digest: digest.value,
            size,
            upstream: prefix,
          });
          if (!ok) this.current = null; // The next request fetches afresh.
          spool.finish(ok);
        },
        (error: unknown) => {
          log({ event: "blob.fill_failed", digest: digest.value, upstream: prefix, error: String(error) });
          this.current = null;
          spool.fail(error instanceof Error ? error : new Error("fill failed"));
        },
      ),
    );
    return spool;
  }

  private async fromStore(services: Services, digest: Digest): Promise<Response> {
    const stored = await services.blobStore.get(digest);
    if (!stored) throw new RegistryError(502, "UNAVAILABLE", "the blob vanished from storage; try again");
    return new Response(stored.body, {
      headers: { [FillHeaders.size]: String(stored.size), [FillHeaders.cache]: "HIT" },
    });
  }
}

/** Copies the download into the spool while hashing it; resolves whether it matches the digest and size. */
async function pump(
  stream: ReadableStream<Uint8Array>,
  spool: Spool,
  digest: Digest,
  size: number,
): Promise<boolean> {
  const hasher = new crypto.DigestStream(webCryptoName(digest.algorithm));
  const writer = hasher.getWriter();
  const reader = stream.getReader();
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.byteLength;
    spool.append(value);
    await writer.write(value);
  }
  await writer.close();
  return length === size && toHex(await hasher.digest) === digest.hex;
}
