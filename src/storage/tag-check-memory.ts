import type { OpBudget } from "../util/op-budget";
import {
  type ForgetManifest,
  type ManifestStore,
  type PurgeResult,
  type RepositoryKey,
  repositoryTagsPrefix,
  type StoredManifest,
  type TagEntry,
  type TagPage,
  tagKey,
} from "./manifest-store";

/** A confirmed tag is written again at least this often (KV's free plan allows 1,000 writes a day). */
const PERSIST_INTERVAL_MS = 24 * 3600 * 1000;
/** Tags remembered per isolate; beyond this the oldest are forgotten (they are then simply written). */
const MAX_REMEMBERED = 10_000;

interface Remembered {
  /** The latest check this isolate knows of. */
  entry: TagEntry;
  /** What the store holds as far as this isolate knows; null when unknown. */
  persisted: TagEntry | null;
}

/** What an isolate remembers about tag checks; one per manifest store, living as long as the isolate. */
export class TagChecks {
  private readonly entries = new Map<string, Remembered>();

  get(key: string): Remembered | undefined {
    return this.entries.get(key);
  }

  set(key: string, value: Remembered): void {
    this.entries.delete(key); // re-inserted last: the Map's order is the age
    if (this.entries.size >= MAX_REMEMBERED) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, value);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  forget(prefix: string): void {
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) this.entries.delete(key);
  }
}

/**
 * A manifest store that does not rewrite a tag the upstream just confirmed unchanged: the new check
 * time stays in the isolate's memory and reaches the store only once a day (or half the entry's
 * retention, if shorter, so it never expires while in use) or when the tag moved. Reads in this isolate
 * see the remembered check; other isolates see the stored, older one and at worst revalidate again with
 * a HEAD, which costs no upstream quota and, here, no write.
 */
export class TagCheckMemory implements ManifestStore {
  constructor(
    private readonly inner: ManifestStore,
    private readonly checks: TagChecks,
  ) {}

  async getTag(repository: RepositoryKey, tag: string, variant: number): Promise<TagEntry | null> {
    const key = tagKey(repository, tag, variant);
    const stored = await this.inner.getTag(repository, tag, variant);
    if (!stored) {
      // Gone from the store (expired, purged): the next check writes it again.
      this.checks.delete(key);
      return null;
    }
    const known = this.checks.get(key);
    if (known && known.entry.checkedAt > stored.checkedAt) {
      known.persisted = stored;
      return known.entry;
    }
    this.checks.set(key, { entry: stored, persisted: stored });
    return stored;
  }

  async putTag(
    repository: RepositoryKey,
    tag: string,
    variant: number,
    entry: TagEntry,
    retainSeconds: number,
  ): Promise<void> {
    const key = tagKey(repository, tag, variant);
    const persisted = this.checks.get(key)?.persisted ?? null;
    const interval = Math.min(PERSIST_INTERVAL_MS, (retainSeconds * 1000) / 2);
    if (persisted && sameTarget(persisted, entry) && entry.checkedAt - persisted.checkedAt < interval) {
      this.checks.set(key, { entry, persisted });
      return;
    }
    // Remembered before the write: if the write fails, this isolate still serves the check it made.
    this.checks.set(key, { entry, persisted });
    await this.inner.putTag(repository, tag, variant, entry, retainSeconds);
    this.checks.set(key, { entry, persisted: entry });
  }

  getManifest(repository: RepositoryKey, digest: string): Promise<StoredManifest | null> {
    return this.inner.getManifest(repository, digest);
  }

  putManifest(repository: RepositoryKey, manifest: StoredManifest): Promise<void> {
    return this.inner.putManifest(repository, manifest);
  }

  getTagVariants(repository: RepositoryKey, tag: string): Promise<TagEntry[]> {
    return this.inner.getTagVariants(repository, tag);
  }

  listTags(upstream: string | null, cursor?: string): Promise<TagPage> {
    return this.inner.listTags(upstream, cursor);
  }

  async purge(
    repository: RepositoryKey,
    tag: string | null,
    budget: OpBudget,
    forgetManifest?: ForgetManifest,
  ): Promise<PurgeResult> {
    const prefix = tag === null ? repositoryTagsPrefix(repository) : tagKey(repository, tag, "");
    this.checks.forget(prefix);
    return this.inner.purge(repository, tag, budget, forgetManifest);
  }
}

function sameTarget(a: TagEntry, b: TagEntry): boolean {
  return a.digest === b.digest && a.mediaType === b.mediaType && a.size === b.size;
}
