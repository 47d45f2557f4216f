import type { OpBudget } from "../util/op-budget";

/** A manifest body with what is needed to serve it again exactly as the upstream did. */
export interface StoredManifest {
  readonly body: ArrayBuffer;
  readonly mediaType: string;
  readonly digest: string;
}

/** Where a tag pointed when it was last checked with the upstream. */
export interface TagEntry {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  /** Milliseconds since the epoch when the upstream last confirmed this digest for the tag. */
  readonly checkedAt: number;
}

/** Identifies a repository at one upstream. */
export interface RepositoryKey {
  readonly upstream: string;
  readonly name: string;
}

export interface ManifestStore {
  getManifest(repository: RepositoryKey, digest: string): Promise<StoredManifest | null>;
  putManifest(repository: RepositoryKey, manifest: StoredManifest): Promise<void>;
  /** `variant` names the set of media types the client accepted: upstreams may answer each differently. */
  getTag(repository: RepositoryKey, tag: string, variant: number): Promise<TagEntry | null>;
  /** Every variant of a tag that is still kept (for serving stale when the client's own is missing). */
  getTagVariants(repository: RepositoryKey, tag: string): Promise<TagEntry[]>;
  /** Cached tags, all or of one upstream, a page at a time. */
  listTags(upstream: string | null, cursor?: string): Promise<TagPage>;
  /**
   * Forgets a tag (every variant), or a whole repository (tags and manifests), within `budget`; says how
   * many entries went and whether all did (else call again: it continues where it stopped).
   * `forgetManifest` is called for each manifest deleted (one operation of the budget each): copies
   * kept elsewhere (the colo cache) go with it.
   */
  purge(
    repository: RepositoryKey,
    tag: string | null,
    budget: OpBudget,
    forgetManifest?: ForgetManifest,
  ): Promise<PurgeResult>;
  /** Keeps the entry for `retainSeconds` (its freshness is decided by the caller from `checkedAt`). */
  putTag(
    repository: RepositoryKey,
    tag: string,
    variant: number,
    entry: TagEntry,
    retainSeconds: number,
  ): Promise<void>;
}

/** Removes the copies of a purged manifest kept outside the store. Never rejects. */
export type ForgetManifest = (digest: string) => Promise<unknown>;

export interface PurgeResult {
  readonly deleted: number;
  readonly complete: boolean;
}

export interface TagPage {
  readonly tags: Array<{
    readonly repository: RepositoryKey;
    readonly tag: string;
    readonly entry: TagEntry;
  }>;
  readonly cursor?: string;
}

/** KV cannot expire entries sooner than this. */
export const KV_MIN_TTL_SECONDS = 60;

/**
 * KV implementation. Manifests by digest are immutable and kept without expiry; tags are small
 * pointers to a digest. Freshness lives in the entry, not in KV expiry: KV's minimum TTL is 60 s and
 * its reads are eventually consistent.
 */
export class KvManifestStore implements ManifestStore {
  constructor(private readonly kv: KVNamespace) {}

  async getManifest(repository: RepositoryKey, digest: string): Promise<StoredManifest | null> {
    const { value, metadata } = await this.kv.getWithMetadata<{ mediaType?: string }>(
      manifestKey(repository, digest),
      "arrayBuffer",
    );
    if (!value || typeof metadata?.mediaType !== "string") return null;
    return { body: value, mediaType: metadata.mediaType, digest };
  }

  async putManifest(repository: RepositoryKey, manifest: StoredManifest): Promise<void> {
    await this.kv.put(manifestKey(repository, manifest.digest), manifest.body, {
      metadata: { mediaType: manifest.mediaType },
    });
  }

  async getTag(repository: RepositoryKey, tag: string, variant: number): Promise<TagEntry | null> {
    const entry = await this.kv.get<TagEntry>(tagKey(repository, tag, variant), "json");
    return isTagEntry(entry) ? entry : null;
  }

  async putTag(
    repository: RepositoryKey,
    tag: string,
    variant: number,
    entry: TagEntry,
    retainSeconds: number,
  ): Promise<void> {
    // The entry is the metadata too, so listing a tag's variants needs no further reads.
    await this.kv.put(tagKey(repository, tag, variant), JSON.stringify(entry), {
      expirationTtl: Math.max(KV_MIN_TTL_SECONDS, Math.ceil(retainSeconds)),
      metadata: entry,
    });
  }

  async listTags(upstream: string | null, cursor?: string): Promise<TagPage> {
    const page = await this.kv.list<TagEntry>({ prefix: upstream ? `tag/${upstream}/` : "tag/", cursor });
    const tags = page.keys.flatMap((key) => {
      const match = /^tag\/([^/]+)\/(.+):([^:#]+)#\d+$/.exec(key.name);
      if (!match || !isTagEntry(key.metadata)) return [];
      const [, prefix = "", name = "", tag = ""] = match;
      return [{ repository: { upstream: prefix, name }, tag, entry: key.metadata }];
    });
    return { tags, cursor: page.list_complete ? undefined : page.cursor };
  }

  async purge(
    repository: RepositoryKey,
    tag: string | null,
    budget: OpBudget,
    forgetManifest?: ForgetManifest,
  ): Promise<PurgeResult> {
    const manifests = `manifest/${repository.upstream}/${repository.name}@`;
    const prefixes = tag ? [tagKey(repository, tag, "")] : [repositoryTagsPrefix(repository), manifests];
    let deleted = 0;
    for (const prefix of prefixes) {
      const forget =
        forgetManifest && prefix === manifests
          ? (key: string) => forgetManifest(key.slice(manifests.length))
          : undefined;
      const result = await deleteByPrefix(this.kv, prefix, budget, forget);
      deleted += result.deleted;
      if (!result.complete) return { deleted, complete: false };
    }
    return { deleted, complete: true };
  }

  async getTagVariants(repository: RepositoryKey, tag: string): Promise<TagEntry[]> {
    const listed = await this.kv.list<TagEntry>({ prefix: tagKey(repository, tag, "") });
    return listed.keys.map((key) => key.metadata).filter(isTagEntry);
  }
}

/**
 * Deletes the keys under a prefix, a page at a time, as far as `budget` goes (a list and a delete per
 * key each count, and a `forget` per key when given); what is left is found by the next call, since
 * deleted keys are no longer listed.
 */
export async function deleteByPrefix(
  kv: KVNamespace,
  prefix: string,
  budget: OpBudget,
  forget?: (key: string) => Promise<unknown>,
): Promise<PurgeResult> {
  let deleted = 0;
  let cursor: string | undefined;
  const perKey = forget ? 2 : 1;
  // A page is worth listing only if at least one of its keys can be deleted too.
  while (budget.left >= 1 + perKey) {
    budget.take(1);
    const listed = await kv.list({
      prefix,
      cursor,
      limit: Math.min(1000, Math.floor(budget.left / perKey)),
    });
    // The page's limit is what the budget still allows: every key listed is deleted.
    budget.take(listed.keys.length * perKey);
    await Promise.all(
      listed.keys.map(async (key) => {
        await kv.delete(key.name);
        await forget?.(key.name);
      }),
    );
    deleted += listed.keys.length;
    if (listed.list_complete) return { deleted, complete: true };
    cursor = listed.cursor;
  }
  return { deleted, complete: false };
}

function manifestKey(repository: RepositoryKey, digest: string): string {
  return `manifest/${repository.upstream}/${repository.name}@${digest}`;
}

/** A tag entry's key (variant "": the prefix of all the tag's variants). */
export function tagKey(repository: RepositoryKey, tag: string, variant: number | ""): string {
  return `${repositoryTagsPrefix(repository)}${tag}#${variant}`;
}

/** The prefix of every tag entry of a repository. */
export function repositoryTagsPrefix(repository: RepositoryKey): string {
  return `tag/${repository.upstream}/${repository.name}:`;
}

function isTagEntry(value: unknown): value is TagEntry {
  if (!value || typeof value !== "object") return false;
  const entry = value as Record<string, unknown>;
  return (
    typeof entry.digest === "string" &&
    typeof entry.mediaType === "string" &&
    typeof entry.size === "number" &&
    typeof entry.checkedAt === "number"
  );
}
