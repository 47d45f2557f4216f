// Instrumented bindings for the benchmark: counts of the platform operations the Worker and its
// Durable Objects cause (R2 class A/B, KV reads/writes, Durable Object requests, SQLite rows written),
// kept per isolate in module memory and read at `GET /_/ops`. Only when the var OP_COUNTERS = "on";
// otherwise servicesFor gets the bindings untouched (no Proxy, no cost in production).
//
// Cache API calls (the colo cache) are counted too: reads (matches, hits among them), puts and deletes.
//
// R2 classes follow Cloudflare's pricing page: class A = writes and lists (put, multipart create /
// part / complete / abort, delete, list), class B = reads (head, get).
//
// The wrappers are generic over the binding (a Proxy works on any object), not typed with the Workers
// types, so that the benchmark, compiled for Node, can import OpCounts from here.

export interface OpCounts {
  kvReads: number;
  kvWrites: number;
  r2ClassA: number;
  r2ClassB: number;
  /** Stub fetch() and RPC calls on Durable Object namespaces. */
  doRequests: number;
  /** Durable Object SQLite rows written (reported by the storage code through countRowsWritten). */
  doRowsWritten: number;
  /** Cache API matches (colo cache lookups), and how many of them found an entry. */
  cacheReads: number;
  cacheHits: number;
  cachePuts: number;
  cacheDeletes: number;
  /** Calls per operation, e.g. "r2.put", "kv.get tag" (KV: per key kind), "do.BLOB_FILLS.open". */
  byOp: Record<string, number>;
  /**
   * Per kind of invocation: how many there were (each builds its services once) and the subrequests
   * they made (R2, KV, Durable Object and Cache API calls, upstream fetches), against the Workers Free
   * plan's 50 per invocation.
   */
  invocations: Record<InvocationKind, { count: number; subrequests: number }>;
}

/** A Worker request, a call into a Durable Object (RPC), a Durable Object's alarm, or the cron. */
export type InvocationKind = "request" | "object" | "alarm" | "cron";

const counts: OpCounts = emptyCounts();
let enabled = false;

function emptyCounts(): OpCounts {
  return {
    kvReads: 0,
    kvWrites: 0,
    r2ClassA: 0,
    r2ClassB: 0,
    doRequests: 0,
    doRowsWritten: 0,
    cacheReads: 0,
    cacheHits: 0,
    cachePuts: 0,
    cacheDeletes: 0,
    byOp: {},
    invocations: {
      request: { count: 0, subrequests: 0 },
      object: { count: 0, subrequests: 0 },
      alarm: { count: 0, subrequests: 0 },
      cron: { count: 0, subrequests: 0 },
    },
  };
}

type Total = Exclude<keyof OpCounts, "byOp" | "invocations">;

function count(total: Total, op: string, kind: InvocationKind): void {
  counts[total]++;
  counts.byOp[op] = (counts.byOp[op] ?? 0) + 1;
  counts.invocations[kind].subrequests++;
}

/** One invocation of this kind has started (it builds its services once). */
export function countInvocation(kind: InvocationKind): void {
  if (enabled) counts.invocations[kind].count++;
}

/** `fetch` with each call counted as a subrequest of this kind of invocation (the upstream's requests). */
export function countFetch(kind: InvocationKind): (request: Request) => Promise<Response> {
  return (request) => {
    if (enabled) {
      counts.invocations[kind].subrequests++;
      counts.byOp.fetch = (counts.byOp.fetch ?? 0) + 1;
    }
    return fetch(request);
  };
}

/** A copy of the counts so far; with `reset`, they start again from zero. */
export function opCounts(reset = false): OpCounts {
  const copy: OpCounts = {
    ...counts,
    byOp: { ...counts.byOp },
    invocations: {
      request: { ...counts.invocations.request },
      object: { ...counts.invocations.object },
      alarm: { ...counts.invocations.alarm },
      cron: { ...counts.invocations.cron },
    },
  };
  if (reset) Object.assign(counts, emptyCounts());
  return copy;
}

/**
 * SQLite rows written by a Durable Object (INSERT/UPDATE/REPLACE/DELETE statements, `n` rows).
 * Costs one comparison when counting is off.
 */
export function countRowsWritten(n = 1): void {
  if (!enabled) return;
  counts.doRowsWritten += n;
  counts.byOp["do.sql.rowsWritten"] = (counts.byOp["do.sql.rowsWritten"] ?? 0) + n;
}

const R2_CLASS_A = new Set(["put", "createMultipartUpload", "delete", "list"]);
const R2_CLASS_B = new Set(["head", "get"]);
const R2_UPLOAD_OPS = new Set(["uploadPart", "complete", "abort"]);
const KV_READS = new Set(["get", "getWithMetadata", "list"]);
const KV_WRITES = new Set(["put", "delete"]);

/**
 * A Proxy over `target` whose methods call `onCall(name)` before the real method (bound to the real
 * object, so native bindings keep working) and hand their result to `wrapResult`. Everything else passes through.
 */
function counting<T extends object>(
  target: T,
  onCall: (name: string, args: unknown[]) => void,
  wrapResult: (name: string, result: unknown) => unknown = (_name, result) => result,
): T {
  return new Proxy(target, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop, t);
      if (typeof value !== "function" || typeof prop !== "string") return value;
      return (...args: unknown[]) => {
        onCall(prop, args);
        return wrapResult(prop, Reflect.apply(value as (...a: unknown[]) => unknown, t, args));
      };
    },
  });
}

function wrapUpload<U extends object>(upload: U, kind: InvocationKind): U {
  return counting(upload, (name) => {
    if (R2_UPLOAD_OPS.has(name)) count("r2ClassA", `r2.${name}`, kind);
  });
}

export function countR2<B extends object>(bucket: B, kind: InvocationKind = "request"): B {
  return counting(
    bucket,
    (name) => {
      if (R2_CLASS_A.has(name)) count("r2ClassA", `r2.${name}`, kind);
      else if (R2_CLASS_B.has(name)) count("r2ClassB", `r2.${name}`, kind);
    },
    (name, result) => {
      if (name === "createMultipartUpload" && result instanceof Promise)
        return result.then((u: object) => wrapUpload(u, kind));
      if (name === "resumeMultipartUpload" && result && typeof result === "object")
        return wrapUpload(result, kind);
      return result;
    },
  );
}

/** The kind of a KV key: its first path segment (tag, manifest, link, served, token). */
function keyKind(args: unknown[]): string {
  const key = args[0];
  if (typeof key === "string") return key.split("/")[0] ?? "";
  if (Array.isArray(key)) return "(batch)";
  const prefix = (key as { prefix?: unknown } | undefined)?.prefix;
  return typeof prefix === "string" ? prefix.split("/")[0] || "(all)" : "(all)";
}

/** KV operations, per kind of key in `byOp` (e.g. "kv.put tag"), so the benchmark can tell what was written. */
export function countKv<K extends object>(kv: K, kind: InvocationKind = "request"): K {
  return counting(kv, (name, args) => {
    if (KV_READS.has(name)) count("kvReads", `kv.${name} ${keyKind(args)}`, kind);
    else if (KV_WRITES.has(name)) count("kvWrites", `kv.${name} ${keyKind(args)}`, kind);
  });
}

/**
 * The Cache API: `cache.match` counted as a read and, once answered, as a hit or a miss; puts and
 * deletes. `cache` itself when counting is off.
 */
export function countCache<C extends object>(cache: C): C {
  if (!enabled) return cache;
  return once(cache, "request", (c) =>
    counting(
      c,
      (name) => {
        // Only Worker requests use the Cache API.
        if (name === "put") count("cachePuts", "cache.put", "request");
        else if (name === "delete") count("cacheDeletes", "cache.delete", "request");
        else if (name === "match") {
          counts.cacheReads++;
          counts.invocations.request.subrequests++;
        }
      },
      (name, result) => {
        if (name !== "match" || !(result instanceof Promise)) return result;
        return result.then((response: Response | undefined) => {
          if (response) counts.cacheHits++;
          const op = response ? "cache.match hit" : "cache.match miss";
          counts.byOp[op] = (counts.byOp[op] ?? 0) + 1;
          return response;
        });
      },
    ),
  );
}

/** Every method call on the stub (fetch or RPC) is one request to the object. */
function countStub<S extends object>(stub: S, binding: string, kind: InvocationKind): S {
  return counting(stub, (name) => count("doRequests", `do.${binding}.${name}`, kind));
}

export function countDurableObjects<N extends object>(
  ns: N,
  binding: string,
  kind: InvocationKind = "request",
): N {
  return counting(
    ns,
    () => {},
    (name, result) =>
      (name === "get" || name === "getByName") && result && typeof result === "object"
        ? countStub(result, binding, kind)
        : result,
  );
}

/**
 * Bindings already wrapped, per kind of invocation. Memories the isolate keeps per binding (token
 * caches) are keyed on the plain binding, so every kind shares them as it would without counting.
 */
const wrapped = new WeakMap<object, Map<InvocationKind, unknown>>();

function once<T extends object>(binding: T, kind: InvocationKind, wrap: (b: T) => T): T {
  let byKind = wrapped.get(binding);
  if (!byKind) {
    byKind = new Map();
    wrapped.set(binding, byKind);
  }
  const known = byKind.get(kind);
  if (known) return known as T;
  const w = wrap(binding);
  byKind.set(kind, w);
  return w;
}

/** The env objects already wrapped (workerd hands the same env to every request of an isolate). */
const wrappedEnvs = new WeakMap<object, Map<InvocationKind, object>>();

const isNamespace = (v: unknown): v is object =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as { idFromName?: unknown }).idFromName === "function" &&
  typeof (v as { get?: unknown }).get === "function";

/**
 * `env` with BLOBS, MANIFESTS and every Durable Object namespace counted (as operations of `kind` of
 * invocation), when OP_COUNTERS is "on"; `env` itself otherwise.
 */
export function withOpCounters<E extends { readonly [key: string]: unknown }>(
  env: E,
  kind: InvocationKind = "request",
): E {
  if (env.OP_COUNTERS !== "on") return env;
  enabled = true;
  let byKind = wrappedEnvs.get(env);
  if (!byKind) {
    byKind = new Map();
    wrappedEnvs.set(env, byKind);
  }
  const known = byKind.get(kind);
  if (known) return known as E;
  const out: Record<string, unknown> = { ...env };
  for (const [key, value] of Object.entries(env)) {
    if (key === "BLOBS" && typeof value === "object" && value !== null)
      out[key] = once(value, kind, (b) => countR2(b, kind));
    else if (key === "MANIFESTS" && typeof value === "object" && value !== null)
      out[key] = once(value, kind, (kv) => countKv(kv, kind));
    else if (isNamespace(value)) out[key] = once(value, kind, (ns) => countDurableObjects(ns, key, kind));
  }
  byKind.set(kind, out);
  return out as E;
}
