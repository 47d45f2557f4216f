import { deleteByPrefix, type RepositoryKey } from "./manifest-store";
import type { StorageFailure } from "./tolerant-manifest-store";

/**
 * Which repositories are known to hold which blobs. Blobs are stored once by digest for everyone, so a
 * blob fetched with upstream credentials (possibly private) is served through a repository only when a
 * link says that repository holds it.
 */
export interface BlobLinks {
  has(repository: RepositoryKey, digest: string): Promise<boolean>;
  /** Links blobs the upstream confirmed one by one; those already linked are left alone. Never rejects. */
  add(repository: RepositoryKey, digests: readonly string[]): Promise<void>;
  /** Links every blob a manifest names, as one record. Never rejects. */
  addManifest(repository: RepositoryKey, manifestDigest: string, digests: readonly string[]): Promise<void>;
  /** Forgets every link of a repository. */
  purge(repository: RepositoryKey): Promise<void>;
}

/** Manifest records read in this isolate; a record's content never changes (its key names the manifest). */
const MAX_REMEMBERED_RECORDS = 2000;
const records = new Map<string, readonly string[]>();

/**
 * KV implementation. A manifest's links are one value (`links/<upstream>/<name>@<manifest digest>` →
 * its blob digests), so caching an image costs one write per manifest, not one per blob; a blob the
 * upstream confirmed on its own gets a key of its own (`link/…@<blob digest>`, as links used to be).
 * `has` lists the repository's manifest records (reads are cheap, writes are the budget) and reads each
 * once per isolate.
 */
export class KvBlobLinks implements BlobLinks {
  constructor(
    private readonly kv: KVNamespace,
    private readonly failed: StorageFailure = () => {},
  ) {}

  async has(repository: RepositoryKey, digest: string): Promise<boolean> {
    return (
      (await this.inManifestRecord(repository, digest)) ||
      (await this.kv.get(linkKey(repository, digest))) !== null
    );
  }

  async add(repository: RepositoryKey, digests: readonly string[]): Promise<void> {
    try {
      for (const digest of digests) {
        if (!(await this.has(repository, digest))) await this.kv.put(linkKey(repository, digest), "1");
      }
    } catch (error) {
      // A lost link costs one upstream confirmation later, never a wrong answer.
      this.failed("link", error);
    }
  }

  async addManifest(
    repository: RepositoryKey,
    manifestDigest: string,
    digests: readonly string[],
  ): Promise<void> {
    if (digests.length === 0) return;
    const key = recordKey(repository, manifestDigest);
    try {
      await this.kv.put(key, JSON.stringify(digests));
      remember(key, digests);
    } catch (error) {
      this.failed("links", error);
    }
  }

  async purge(repository: RepositoryKey): Promise<void> {
    await deleteByPrefix(this.kv, `link/${repository.upstream}/${repository.name}@`);
    await deleteByPrefix(this.kv, recordPrefix(repository));
  }

  private async inManifestRecord(repository: RepositoryKey, digest: string): Promise<boolean> {
    let cursor: string | undefined;
    // Bounded: 10 pages of 1,000 manifests of one repository.
    for (let page = 0; page < 10; page++) {
      const listed = await this.kv.list({ prefix: recordPrefix(repository), cursor });
      for (const { name } of listed.keys) if ((await this.record(name)).includes(digest)) return true;
      if (listed.list_complete) return false;
      cursor = listed.cursor;
    }
    return false;
  }

  private async record(key: string): Promise<readonly string[]> {
    const known = records.get(key);
    if (known) return known;
    const value = await this.kv.get<unknown>(key, "json");
    if (!Array.isArray(value)) return []; // gone meanwhile (purged): nothing to remember
    const digests = value.filter((item): item is string => typeof item === "string");
    remember(key, digests);
    return digests;
  }
}

function remember(key: string, digests: readonly string[]): void {
  if (records.size >= MAX_REMEMBERED_RECORDS) records.clear();
  records.set(key, digests);
}

function linkKey(repository: RepositoryKey, digest: string): string {
  return `link/${repository.upstream}/${repository.name}@${digest}`;
}

function recordPrefix(repository: RepositoryKey): string {
  return `links/${repository.upstream}/${repository.name}@`;
}

function recordKey(repository: RepositoryKey, manifestDigest: string): string {
  return `${recordPrefix(repository)}${manifestDigest}`;
}
