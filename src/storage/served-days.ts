/**
 * The day each blob was last served, for the retention job: at most one KV write per blob per day
 * (and per isolate, one read). The day is kept in the key's metadata so a listing returns it.
 */
export interface ServedDays {
  mark(digest: string): Promise<void>;
  /** Every blob with a recorded day, page by page. */
  list(cursor?: string): Promise<{ entries: Array<{ digest: string; day: string }>; cursor?: string }>;
  forget(digests: readonly string[]): Promise<void>;
}

const MAX_REMEMBERED = 10_000;
/** Blobs marked today in this isolate: no KV read for them again today. */
const remembered = new Map<string, string>();

export class KvServedDays implements ServedDays {
  constructor(
    private readonly kv: KVNamespace,
    private readonly today: () => string = () => new Date().toISOString().slice(0, 10),
  ) {}

  async mark(digest: string): Promise<void> {
    const day = this.today();
    if (remembered.get(digest) === day) return;
    if (remembered.size >= MAX_REMEMBERED) remembered.clear();
    remembered.set(digest, day);
    const key = servedKey(digest);
    if ((await this.kv.get(key)) !== day) await this.kv.put(key, day, { metadata: { day } });
  }

  async list(cursor?: string): Promise<{ entries: Array<{ digest: string; day: string }>; cursor?: string }> {
    const page = await this.kv.list<{ day?: string }>({ prefix: "served/", cursor });
    const entries = page.keys.flatMap((key) =>
      typeof key.metadata?.day === "string"
        ? [{ digest: key.name.slice("served/".length), day: key.metadata.day }]
        : [],
    );
    return { entries, cursor: page.list_complete ? undefined : page.cursor };
  }

  async forget(digests: readonly string[]): Promise<void> {
    await Promise.all(digests.map((digest) => this.kv.delete(servedKey(digest))));
    for (const digest of digests) remembered.delete(digest);
  }
}

function servedKey(digest: string): string {
  return `served/${digest}`;
}
