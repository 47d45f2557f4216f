/**
 * What a signature policy entry let through: a manifest whose signature verified, the children of a
 * verified index, the blobs such manifests name, and the signature objects themselves. Kept per
 * (entry version, digest): digests are immutable, so an approval holds until the entry changes.
 */
export interface Approval {
  /** How it was approved, for logs: `legacy signature, key 0`, `named by sha256:…`. */
  readonly how: string;
  /**
   * For a manifest: whether what it names (an index's children, an image's blobs) is approved too.
   * A child approved through its index is not, until it is first served with its body.
   */
  readonly complete: boolean;
}

export interface ApprovalStore {
  get(version: string, digest: string): Promise<Approval | null>;
  put(version: string, approvals: ReadonlyMap<string, Approval>): Promise<void>;
}

/** The isolate's memory of approvals, shared by its requests (bounded). */
export type ApprovalMemory = Map<string, Approval>;

const MEMORY_LIMIT = 20_000;
/** Approvals not read for this long go (KV's expiry): a later pull verifies again. */
const RETAIN_SECONDS = 90 * 24 * 3600;
const PREFIX = "signature-approval/";

/**
 * Approvals in the isolate's memory first (a warm pull reads nothing), then KV (other isolates and
 * data centres). Storage trouble only costs a verification: a failed read is a miss, a failed write
 * is dropped and reported.
 */
export class KvApprovalStore implements ApprovalStore {
  constructor(
    private readonly kv: KVNamespace,
    private readonly memory: ApprovalMemory,
    private readonly failed: (operation: string, error: unknown) => void,
  ) {}

  async get(version: string, digest: string): Promise<Approval | null> {
    const key = keyOf(version, digest);
    const known = this.memory.get(key);
    if (known) return known;
    try {
      const stored = await this.kv.get<Approval>(key, "json");
      if (stored && typeof stored.how === "string") {
        const approval = { how: stored.how, complete: stored.complete === true };
        this.remember(key, approval);
        return approval;
      }
    } catch (error) {
      this.failed("get", error);
    }
    return null;
  }

  async put(version: string, approvals: ReadonlyMap<string, Approval>): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const [digest, approval] of approvals) {
      const key = keyOf(version, digest);
      const known = this.memory.get(key);
      // Never write what is known already, nor weaken a complete approval.
      if (known && (known.complete || !approval.complete)) continue;
      this.remember(key, approval);
      writes.push(this.kv.put(key, JSON.stringify(approval), { expirationTtl: RETAIN_SECONDS }));
    }
    const results = await Promise.allSettled(writes);
    for (const result of results) if (result.status === "rejected") this.failed("put", result.reason);
  }

  private remember(key: string, approval: Approval): void {
    if (this.memory.size >= MEMORY_LIMIT) {
      const oldest = this.memory.keys().next().value;
      if (oldest !== undefined) this.memory.delete(oldest);
    }
    this.memory.set(key, approval);
  }
}

function keyOf(version: string, digest: string): string {
  return `${PREFIX}${version}/${digest}`;
}
