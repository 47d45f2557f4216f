import { DurableObject } from "cloudflare:workers";
import type { UpstreamConfig } from "../config";
import type { Env } from "../env";
import { type Digest, parseDigest } from "../oci/digest";
import { nameUnknown, RegistryError } from "../oci/errors";
import { type Services, servicesFor } from "../services";
import { idleTimeout, lockstepTee, rechunk, withLength } from "../util/streams";

/** Size of the pieces a download is handled in (and of the spool's rows). */
const CHUNK_BYTES = 1024 * 1024;
/** The first piece is small, so the first bytes reach clients without waiting for a whole MiB. */
const FIRST_CHUNK_BYTES = 64 * 1024;

import { errorToResponse, FillHeaders } from "./protocol";
import { Spool } from "./spool";

/**
 * One instance per blob digest (`idFromName(digest)`): concurrent misses of the same blob, from any
 * Worker isolate anywhere, share a single upstream download. The download streams into R2 and into a
 * spool in this object's storage at once; every client reads the spool from the start at its own pace,
 * receiving bytes as they arrive. The fill goes on when a client goes away.
 */
export class BlobFill extends DurableObject<Env> {
  /** The download in progress (or being started), and for which repository it was started. */
  private current: Download | null = null;

  /** Forgets a finished download, so the next request starts afresh (or finds the blob stored). */
  private release(spool: Spool): void {
    if (this.current?.spool === spool) this.current = null;
  }

  override async fetch(request: Request): Promise<Response> {
    try {
      const services = servicesFor(this.env);
      const prefix = request.headers.get(FillHeaders.upstream) ?? "";
      const upstream = services.config.upstreams.get(prefix);
      if (!upstream) throw nameUnknown(`unknown upstream prefix "${prefix.slice(0, 64)}"`);
      const me: Owner = { upstream, name: request.headers.get(FillHeaders.name) ?? "" };
      const digest = parseDigest(request.headers.get(FillHeaders.digest) ?? "");

      const spool = await this.join(services, me, digest);
      if (!spool) {
        // Stored meanwhile: the Worker serves it from the store, checking the repository may see it.
        return new Response(null, { status: 409, headers: { [FillHeaders.stored]: "1" } });
      }
      return new Response(withLength(spool.reader(), spool.size), {
        headers: { [FillHeaders.size]: String(spool.size) },
      });
    } catch (error) {
      return errorToResponse(error);
    }
  }

  /**
   * Joins the download in progress, or starts one. A download made with upstream credentials is joined
   * from another repository only once the upstream confirms that repository holds the blob: the bytes
   * may be private. If a download started for another repository fails, this one tries its own.
   */
  private async join(services: Services, me: Owner, digest: Digest): Promise<Spool | null> {
    // At most two rounds: our own download is started on the second at the latest.
    for (let attempt = 0; attempt < 2; attempt++) {
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
        continue;
      }
      if (spool?.restricted && !mine) {
        await services.blobs.confirm(services.client(me.upstream), me.name, digest);
      }
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
    const response = await client.request({ name, path: `blobs/${digest.value}`, method: "GET" });
    if (!response.ok) throw await client.errorFor(response, name, "blob");
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
    // Fetched with credentials, the blob may be private: only repositories known to hold it serve it.
    const restricted = client.authenticated;
    const spool: Spool = new Spool(this.ctx.storage.sql, size, restricted, () => {
      if (spool.succeeded) this.release(spool);
    });
    // The upstream just confirmed that this repository holds it.
    const linked = restricted
      ? services.blobLinks.add({ upstream: prefix, name }, [digest.value])
      : undefined;
    // 1 MiB chunks: the tee, the store and the spool then work per MiB, not per network packet.
    const body = idleTimeout(rechunk(response.body, CHUNK_BYTES, FIRST_CHUNK_BYTES), upstream.timeout * 1000);
    const [toStore, toSpool] = lockstepTee(body);
    // The store checks length and hash (R2's own check, or its multipart hashing) and keeps nothing
    // else: its answer is the verdict the readers' last chunk waits for. The bytes are hashed once.
    const stored = services.blobStore.put(digest, toStore, size, { restricted });
    const spooled = pump(toSpool, spool);
    const log = services.log;
    this.ctx.waitUntil(
      Promise.all([spooled, stored, linked]).then(
        ([length, kept]) => {
          const ok = kept && length === size;
          log({ event: ok ? "blob.stored" : "blob.rejected", digest: digest.value, size, upstream: prefix });
          if (!ok) this.release(spool); // The next request fetches afresh.
          if (ok) {
            services.stats.blobStored(size);
            this.ctx.waitUntil(services.stats.flushIfDue().catch(() => {}));
          }
          spool.finish(ok);
        },
        (error: unknown) => {
          log({ event: "blob.fill_failed", digest: digest.value, upstream: prefix, error: String(error) });
          this.release(spool);
          spool.fail(error instanceof Error ? error : new Error("fill failed"));
        },
      ),
    );
    return spool;
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

/** Copies the download into the spool; resolves how many bytes it held. */
async function pump(stream: ReadableStream<Uint8Array>, spool: Spool): Promise<number> {
  const reader = stream.getReader();
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return length;
    length += value.byteLength;
    spool.append(value);
  }
}
