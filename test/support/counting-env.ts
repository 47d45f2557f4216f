/**
 * Counts (and can fail) the storage operations of the whole mirror under test: KV, R2 and Durable
 * Object stub calls.
 *
 * The fill objects (Durable Objects) get their bindings from workerd, not from the `env` a test hands to
 * the Worker's `fetch`, so wrapping that `env` alone would miss every write they make. They run in the
 * test's isolate, though: wrapping the binding classes' methods (as `vi.spyOn` does, undone by
 * `vi.restoreAllMocks()`) sees every call, from the Worker and from the objects alike.
 */
import { env } from "cloudflare:workers";
import { vi } from "vitest";

const KV_METHODS = ["get", "getWithMetadata", "put", "delete", "list"] as const;
const R2_METHODS = [
  "head",
  "get",
  "put",
  "delete",
  "list",
  "createMultipartUpload",
  "resumeMultipartUpload",
] as const;
const MULTIPART_METHODS = ["uploadPart", "complete", "abort"] as const;

export type Operation =
  | `kv.${(typeof KV_METHODS)[number]}`
  | `r2.${(typeof R2_METHODS)[number]}`
  | `r2.multipart.${(typeof MULTIPART_METHODS)[number]}`
  /** A call on a Durable Object stub (`fetch` or an RPC method), by class binding: `do.STATS.record`. */
  | `do.${string}`;

export interface StorageCounts {
  /** Every operation since the last reset, in order. */
  readonly log: readonly Operation[];
  count(prefix: string): number;
  readonly kvWrites: number;
  readonly r2Writes: number;
  readonly doCalls: number;
  /** KV keys written since the last reset, in order. */
  readonly kvKeysWritten: readonly string[];
  reset(): void;
  /** Makes `operation` throw `error` (e.g. KV's "429 Too Many Requests") until `heal`. */
  fail(operation: Operation, error: Error): void;
  heal(): void;
}

const KV_WRITES = ["kv.put", "kv.delete"];
const R2_WRITES = [
  "r2.put",
  "r2.delete",
  "r2.createMultipartUpload",
  "r2.multipart.uploadPart",
  "r2.multipart.complete",
];

/** Starts counting; `vi.restoreAllMocks()` (in `afterEach`) stops it. */
export function countStorage(): StorageCounts {
  let log: Operation[] = [];
  let kvKeysWritten: string[] = [];
  const failures = new Map<Operation, Error>();

  const note = (operation: Operation): void => {
    log.push(operation);
    const failure = failures.get(operation);
    if (failure) throw failure;
  };

  instrument(Object.getPrototypeOf(env.MANIFESTS), KV_METHODS, (method, args) => {
    if (method === "put" || method === "delete") kvKeysWritten.push(String(args[0]));
    note(`kv.${method}`);
  });
  const r2Methods = R2_METHODS.filter((method) => method !== "createMultipartUpload");
  instrument(Object.getPrototypeOf(env.BLOBS), r2Methods, (method) => note(`r2.${method}`));
  countMultipartCalls(note);
  countStubCalls(note);

  return {
    get log() {
      return log;
    },
    count: (prefix) => log.filter((operation) => operation.startsWith(prefix)).length,
    get kvWrites() {
      return log.filter((operation) => KV_WRITES.includes(operation)).length;
    },
    get r2Writes() {
      return log.filter((operation) => R2_WRITES.includes(operation)).length;
    },
    get doCalls() {
      return log.filter((operation) => operation.startsWith("do.")).length;
    },
    get kvKeysWritten() {
      return kvKeysWritten;
    },
    reset() {
      log = [];
      kvKeysWritten = [];
    },
    fail: (operation, error) => failures.set(operation, error),
    heal: () => failures.clear(),
  };
}

/** Wraps methods of a binding class: `before` runs first and may throw to fail the call. */
function instrument<M extends string>(
  prototype: object,
  methods: readonly M[],
  before: (method: M, args: unknown[]) => void,
): void {
  const target = prototype as Record<string, (...args: unknown[]) => unknown>;
  for (const method of methods) {
    const original = target[method];
    if (typeof original !== "function") continue;
    vi.spyOn(target, method).mockImplementation(function counted(this: unknown, ...args: unknown[]) {
      before(method, args);
      return Reflect.apply(original, this, args);
    });
  }
}

/** An upload's class is reachable only through an upload: wrap its methods when the first one starts. */
function countMultipartCalls(note: (operation: Operation) => void): void {
  const bucket = Object.getPrototypeOf(env.BLOBS) as R2Bucket;
  const create = bucket.createMultipartUpload;
  let instrumented = false;
  vi.spyOn(bucket, "createMultipartUpload").mockImplementation(async function counted(
    this: R2Bucket,
    ...args
  ) {
    note("r2.createMultipartUpload");
    const upload: R2MultipartUpload = await Reflect.apply(create, this, args);
    if (!instrumented) {
      instrumented = true;
      instrument(Object.getPrototypeOf(upload), MULTIPART_METHODS, (method) =>
        note(`r2.multipart.${method}`),
      );
    }
    return upload;
  });
}

/** Wraps the stubs Durable Object namespaces hand out, counting each call made on them. */
function countStubCalls(note: (operation: Operation) => void): void {
  const names = new Map<unknown, string>();
  for (const binding of ["BLOB_FILLS", "MANIFEST_MISSES", "STATS"] as const) names.set(env[binding], binding);
  const prototype = Object.getPrototypeOf(env.MANIFEST_MISSES) as DurableObjectNamespace;
  const get = prototype.get;
  vi.spyOn(prototype, "get").mockImplementation(function counted(this: DurableObjectNamespace, ...args) {
    const stub: DurableObjectStub = Reflect.apply(get, this, args);
    // Names are per namespace object; the objects' own `env` holds other objects of the same class.
    const binding = names.get(this) ?? bindingOf(this);
    return new Proxy(stub, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property);
        if (typeof value !== "function" || typeof property !== "string") return value;
        // Reflect.apply: an RPC method stub would take `.apply` for a remote method.
        return (...callArgs: unknown[]) => {
          note(`do.${binding}.${property}`);
          return Reflect.apply(value, target, callArgs);
        };
      },
    });
  });
}

/** A namespace from an object's own env: named by the class its ids belong to, else "unknown". */
function bindingOf(namespace: DurableObjectNamespace): string {
  for (const binding of ["BLOB_FILLS", "MANIFEST_MISSES", "STATS"] as const) {
    const known = env[binding];
    if (known && sameNamespace(known, namespace)) return binding;
  }
  return "unknown";
}

/** Two namespace objects of one class give the same id for the same name. */
function sameNamespace(a: DurableObjectNamespace, b: DurableObjectNamespace): boolean {
  try {
    return a.idFromName("counting-env").equals(b.idFromName("counting-env"));
  } catch {
    return false;
  }
}
