/**
 * A blob piped from the upstream straight into the store, with no code touching its bytes: the Workers
 * Free plan allows 10 ms of CPU per invocation, which hashing or copying a layer in JavaScript would
 * exceed. The store checks length and digest on its side (R2: a single put with the blob's hash), so
 * wrong bytes are never kept. Nobody reads this copy: each client gets the blob from the upstream
 * itself while it is on its way.
 */
export class PipedStore {
  /** The store has answered, and kept the blob. */
  stored = false;
  /** Whether the store kept the blob. */
  readonly done: Promise<boolean>;

  constructor(
    readonly size: number,
    /** Downloaded with upstream credentials: readers from other repositories need confirmation. */
    readonly restricted: boolean,
    storing: Promise<boolean>,
  ) {
    this.done = storing
      .catch(() => false)
      .then((stored) => {
        this.stored = stored;
        return stored;
      });
  }
}
