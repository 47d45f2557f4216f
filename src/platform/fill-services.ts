import type { BlobAccess } from "../access/blobs";
import type { Config, UpstreamConfig } from "../config";
import type { Log } from "../mirror/types";
import type { BlobStore } from "../storage/blob-store";
import type { RemoteRegistry } from "../upstream/remote-registry";

/** What a fill needs, handed over by the composition root (platform/services.ts) per call. */
export interface FillServices {
  readonly config: Pick<
    Config,
    "upstreams" | "spoolMaxBytes" | "fillMemoryBytes" | "multipartThreshold" | "clientWindowBytes" | "plan"
  >;
  readonly blobStore: BlobStore;
  /** May a repository read a download started for another (links, upstream confirmation). */
  readonly blobAccess: BlobAccess;
  registry(upstream: UpstreamConfig): RemoteRegistry;
  readonly stats: { blobStored(bytes: number): void; flushIfDue(): Promise<void> };
  readonly log: Log;
  /** Statuses of the upstream answers a call caused, for the Worker's audit line. */
  readonly upstreamStatuses: readonly number[];
}
