import { deleteByPrefix, type RepositoryKey } from "./manifest-store";

/**
 * Which repositories are known to hold which blobs. Blobs are stored once by digest for everyone, so a
 * blob fetched with upstream credentials (possibly private) is served through a repository only when a
 * link says that repository holds it.
 */
export interface BlobLinks {
  has(repository: RepositoryKey, digest: string): Promise<boolean>;
  add(repository: RepositoryKey, digests: readonly string[]): Promise<void>;
  /** Forgets every link of a repository. */
  purge(repository: RepositoryKey): Promise<void>;
}

export class KvBlobLinks implements BlobLinks {
  constructor(private readonly kv: KVNamespace) {}

  async has(repository: RepositoryKey, digest: string): Promise<boolean> {
    return (await this.kv.get(linkKey(repository, digest))) !== null;
  }

  async add(repository: RepositoryKey, digests: readonly string[]): Promise<void> {
    await Promise.all(digests.map((digest) => this.kv.put(linkKey(repository, digest), "1")));
  }

  async purge(repository: RepositoryKey): Promise<void> {
    await deleteByPrefix(this.kv, `link/${repository.upstream}/${repository.name}@`);
  }
}

function linkKey(repository: RepositoryKey, digest: string): string {
  return `link/${repository.upstream}/${repository.name}@${digest}`;
}
