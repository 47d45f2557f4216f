import type { UpstreamConfig } from "../config";
import type { Digest } from "../oci/digest";
import { type BlobLinks, repositoryName } from "../storage/blob-links";
import type { RepositoryKey } from "../storage/manifest-store";
import type { RemoteRegistry } from "../upstream/remote-registry";

/** The upstream a repository is pulled through, and whether with the mirror's credentials. */
export interface Puller {
  readonly upstream: Pick<UpstreamConfig, "prefix">;
  readonly authenticated: boolean;
}

/** Asks the upstream whether a repository holds a blob; rejects (BLOB_UNKNOWN, DENIED, …) if not. */
export type UpstreamHolds<C extends Puller> = (client: C, name: string, digest: Digest) => Promise<unknown>;

/** Where a confirmed link goes: the links store, or the table of the digest's own fill object. */
export type LinkSink = Pick<BlobLinks, "add">;

/** A download in progress, as far as joining it goes. */
export interface DownloadAccess {
  /** Fetched with upstream credentials: the bytes may be private. */
  readonly restricted: boolean;
  /** The repository the download was started for (the upstream served the blob to it). */
  readonly owner: RepositoryKey;
}

/**
 * May repository R see digest D? Blobs are stored once by digest for everyone. A blob fetched with
 * upstream credentials may be private, so it is served through a repository only when a link says the
 * upstream served or confirmed it for that repository, or the upstream confirms it now (which writes the
 * link). A manifest naming the digest is no such evidence: anyone who can push to some repository of the
 * upstream could name a private digest. The Worker (stored blobs, colo cache) and the fill objects
 * (joining a download) ask here alike.
 */
export class BlobAccess<C extends Puller = RemoteRegistry> {
  constructor(
    private readonly links: BlobLinks,
    private readonly holds: UpstreamHolds<C>,
  ) {}

  /** Lets a stored blob through this repository; throws what the upstream answers when it is not its. */
  async admitStored(client: C, name: string, digest: Digest, restricted: boolean): Promise<void> {
    if (!restricted) return;
    if (await this.links.has(repositoryOf(client, name), digest.value)) return;
    await this.confirm(client, name, digest);
  }

  /**
   * May the restricted copy in the colo cache be looked up? Only through an upstream with credentials
   * and once the link is known: no upstream request is spent on it (a miss goes on to R2, which checks).
   */
  async mayReadRestrictedCopy(client: C, name: string, digest: Digest): Promise<boolean> {
    if (!client.authenticated) return false;
    return this.links.has(repositoryOf(client, name), digest.value);
  }

  /**
   * May this repository read a download in progress? Null when it may at once (the bytes are public, or
   * the download is its own); else the upstream's confirmation, linked in `sink` (the fill object's own
   * table), which rejects when the repository does not hold the blob.
   */
  admitToDownload(
    client: C,
    name: string,
    digest: Digest,
    download: DownloadAccess,
    sink: LinkSink,
  ): Promise<void> | null {
    if (!download.restricted || sameRepository(download.owner, repositoryOf(client, name))) return null;
    return this.confirm(client, name, digest, sink);
  }

  /** Asks the upstream whether this repository holds the blob; links it if so, throws if not. */
  async confirm(client: C, name: string, digest: Digest, sink: LinkSink = this.links): Promise<void> {
    await this.holds(client, name, digest);
    await sink.add(repositoryOf(client, name), digest.value);
  }
}

/** A blob fetched through this client may be private (it used upstream credentials): it is restricted. */
export function fetchesRestricted(client: Puller): boolean {
  return client.authenticated;
}

/** A fill object's link table as a sink: linking costs no call and no KV write. */
export function tableSink(table: { link(repository: string): void }): LinkSink {
  return {
    add: async (repository) => table.link(repositoryName(repository)),
  };
}

export function repositoryOf(client: Puller, name: string): RepositoryKey {
  return { upstream: client.upstream.prefix, name };
}

function sameRepository(a: RepositoryKey, b: RepositoryKey): boolean {
  return a.upstream === b.upstream && a.name === b.name;
}
