// The benchmark's reference Worker (bench/lib/reference.ts starts it under `wrangler dev`). It makes the
// same platform calls as the mirror's hot paths with none of the mirror's policy, so a run can split a
// figure into what `wrangler dev` costs any Worker and what the mirror's own code costs:
//
// - `PUT /ref/blob/<name>?size=N` stores N deterministic bytes in R2 (the bench gives the sizes of the
//   20-layer image's blobs).
// - `GET /ref/blob/<name>` is a warm blob hit as the mirror serves one: `caches.default.match` first; on a
//   miss the R2 object piped through a FixedLengthStream into the response, and in the background a
//   second R2 read put into the cache. One audit-like JSON log line per request (~250 bytes).
// - `GET /ref/fill/<repository>/blobs/<digest>` is a cold fill with no JavaScript per byte: the upstream's
//   blob (fetched with the request's Authorization) tee'd natively into the response and into an R2 put
//   that R2 checks against the sha256. `HEAD /ref/stored/<digest>` says whether that put has landed. What
//   storing a blob while it streams costs under `wrangler dev` whatever the code: the mirror's fill
//   minus this is the mirror's own work.
// - With MODE = "cache", pulls go through a Worker that caches with no policy, as the popular single-file
//   registry proxies do: a blob GET is answered from the Cache API, else from R2, else from the upstream
//   tee'd natively into the response and an R2 put (no coalescing, no verification of its own, no
//   revalidation); a manifest GET is kept in the isolate's memory for ever. What a cold and a warm pull
//   cost any caching Worker under `wrangler dev`, whatever its policy.
//   With AUDIT = "on" as well, it also writes one audit-like JSON log line per pull request, as the
//   mirror does (under `wrangler dev` each line costs the thread an inspector message and wrangler's
//   proxy a request to its Node process): what that line costs a pull there.
//   With COORDINATE = "on" as well, each blob that R2 does not have is filled by a Durable Object per
//   digest (`Filler`: the same native tee, reached by one `fetch` to the object), which writes one log
//   line once its put has landed: the parts any mirror that makes concurrent misses one upstream GET,
//   and logs each fill, adds to a caching Worker, with none of the mirror's own code. A lower bound:
//   the object does not join concurrent misses to one download, it only costs the hop and the line.
// - Any other request is passed through to UPSTREAM (method, path, query, headers; the response and its
//   redirects as they are): a pull through a Worker that only forwards.
import { DurableObject } from "cloudflare:workers";

interface Env {
  UPSTREAM: string;
  MODE?: string;
  AUDIT?: string;
  COORDINATE?: string;
  BLOBS: R2Bucket;
  FILLER: DurableObjectNamespace;
}

const CACHE_ORIGIN = "https://reference.invalid";
const BLOB_PATH = /^\/ref\/blob\/([\w.:-]{1,200})$/;
const FILL_PATH = /^\/ref\/fill\/([a-z0-9._/-]{1,200})\/blobs\/sha256:([a-f0-9]{64})$/;
const STORED_PATH = /^\/ref\/stored\/sha256:([a-f0-9]{64})$/;
const PULL_BLOB_PATH = /^\/v2\/([a-z0-9._/-]{1,200})\/blobs\/sha256:([a-f0-9]{64})$/;
const PULL_MANIFEST_PATH = /^\/v2\/[a-z0-9._/-]{1,200}\/manifests\/[\w.:-]{1,200}$/;

/** N bytes of a fixed pattern. */
function patternBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >>> 8)) & 0xff;
  return bytes;
}

async function putBlob(env: Env, name: string, size: number): Promise<Response> {
  if (!Number.isSafeInteger(size) || size < 0 || size > 64 * 2 ** 20) {
    return new Response("size must be 0 … 64 MiB\n", { status: 400 });
  }
  await env.BLOBS.put(name, patternBytes(size));
  return new Response(null, { status: 201 });
}

async function getBlob(request: Request, env: Env, ctx: ExecutionContext, name: string): Promise<Response> {
  const started = Date.now();
  const key = `${CACHE_ORIGIN}/blob/${name}`;
  const hit = await caches.default.match(key);
  let cache = "HIT";
  let response: Response;
  if (hit) {
    // Says which it was, as the mirror's X-Mirror-Cache does (the bench checks its rounds are all hits).
    response = new Response(hit.body, hit);
    response.headers.set("X-Reference-Cache", "HIT");
  } else {
    const object = await env.BLOBS.get(name);
    if (!object) return new Response("not found\n", { status: 404 });
    cache = "STORED";
    const { readable, writable } = new FixedLengthStream(object.size);
    object.body.pipeTo(writable).catch(() => {});
    const headers = {
      "Content-Type": "application/octet-stream",
      "Content-Length": String(object.size),
      "Cache-Control": "public, max-age=31536000, immutable",
    };
    response = new Response(readable, { headers: { ...headers, "X-Reference-Cache": "STORED" } });
    ctx.waitUntil(
      (async () => {
        const again = await env.BLOBS.get(name);
        if (!again) return;
        const { readable: body, writable: sink } = new FixedLengthStream(again.size);
        again.body.pipeTo(sink).catch(() => {});
        await caches.default.put(key, new Response(body, { headers }));
      })().catch(() => {}),
    );
  }
  auditLine(request, response, started, {
    repository: "bench/many",
    reference: `sha256:${name.padEnd(64, "0").slice(0, 64)}`,
    kind: "blob",
    cache,
  });
  return response;
}

/** One JSON log line for a request, shaped like the mirror's audit line (~250 bytes). */
function auditLine(
  request: Request,
  response: Response,
  started: number,
  what: { repository: string; reference: string; kind: string; cache: string },
): void {
  console.log(
    JSON.stringify({
      time: new Date().toISOString(),
      event: "pull",
      user: "anonymous",
      ip: request.headers.get("CF-Connecting-IP") ?? "127.0.0.1",
      method: request.method,
      upstream: "up",
      ...what,
      status: response.status,
      bytes: Number(response.headers.get("Content-Length") ?? 0),
      ms: Date.now() - started,
    }),
  );
}

async function fillBlob(
  request: Request,
  env: Env,
  ctx: Pick<ExecutionContext, "waitUntil">,
  repo: string,
  hex: string,
  key = `fill/sha256:${hex}`,
): Promise<Response> {
  const authorization = request.headers.get("Authorization");
  const upstream = await fetch(new URL(`/v2/${repo}/blobs/sha256:${hex}`, env.UPSTREAM), {
    headers: authorization ? { Authorization: authorization } : {},
  });
  const size = Number(upstream.headers.get("Content-Length"));
  if (!upstream.ok || !upstream.body || !Number.isSafeInteger(size)) {
    return new Response(`upstream answered ${upstream.status}\n`, { status: 502 });
  }
  const [toClient, toStore] = upstream.body.tee();
  const stored = new FixedLengthStream(size);
  toStore.pipeTo(stored.writable).catch(() => {});
  ctx.waitUntil(env.BLOBS.put(key, stored.readable, { sha256: hex }).catch(() => {}));
  const client = new FixedLengthStream(size);
  toClient.pipeTo(client.writable).catch(() => {});
  return new Response(client.readable, {
    headers: { "Content-Type": "application/octet-stream", "Content-Length": String(size) },
  });
}

/** A cached blob: the Cache API, else R2 (and a background cache put), else a fill from the upstream. */
async function cachedBlob(request: Request, env: Env, ctx: ExecutionContext, repo: string, hex: string) {
  const key = `${CACHE_ORIGIN}/pull/sha256:${hex}`;
  const hit = await caches.default.match(key);
  if (hit) return hit;
  const object = await env.BLOBS.get(`pull/sha256:${hex}`);
  if (!object && env.COORDINATE === "on") {
    const filler = env.FILLER.get(env.FILLER.idFromName(hex));
    return filler.fetch(new Request(`https://filler.invalid/${repo}/${hex}`, { headers: request.headers }));
  }
  if (!object) return fillBlob(request, env, ctx, repo, hex, `pull/sha256:${hex}`);
  const headers = {
    "Content-Type": "application/octet-stream",
    "Content-Length": String(object.size),
    "Cache-Control": "public, max-age=31536000, immutable",
  };
  const { readable, writable } = new FixedLengthStream(object.size);
  object.body.pipeTo(writable).catch(() => {});
  ctx.waitUntil(
    (async () => {
      const again = await env.BLOBS.get(`pull/sha256:${hex}`);
      if (!again) return;
      const { readable: body, writable: sink } = new FixedLengthStream(again.size);
      again.body.pipeTo(sink).catch(() => {});
      await caches.default.put(key, new Response(body, { headers }));
    })().catch(() => {}),
  );
  return new Response(readable, { headers });
}

/** Manifests by path and Accept, kept in this isolate's memory once fetched. */
const manifests = new Map<string, { body: ArrayBuffer; headers: [string, string][] }>();

async function cachedManifest(request: Request, env: Env, url: URL): Promise<Response> {
  const key = `${url.pathname} ${request.headers.get("Accept") ?? ""}`;
  let entry = manifests.get(key);
  if (!entry && request.method === "HEAD")
    return fetch(new Request(new URL(url.pathname, env.UPSTREAM), request));
  if (!entry) {
    const upstream = await fetch(new Request(new URL(url.pathname, env.UPSTREAM), request));
    if (upstream.status !== 200) return upstream;
    const keep = ["content-type", "docker-content-digest", "content-length"];
    entry = {
      body: await upstream.arrayBuffer(),
      headers: [...upstream.headers].filter(([name]) => keep.includes(name.toLowerCase())),
    };
    manifests.set(key, entry);
  }
  return new Response(request.method === "HEAD" ? null : entry.body, { headers: entry.headers });
}

export default {
  async fetch(request, env, ctx): Promise<Response> {
    const url = new URL(request.url);
    if (env.MODE === "cache") {
      const started = Date.now();
      const pull = PULL_BLOB_PATH.exec(url.pathname);
      const manifest = PULL_MANIFEST_PATH.exec(url.pathname);
      let response: Response | null = null;
      if (pull && request.method === "GET") {
        response = await cachedBlob(request, env, ctx, pull[1] ?? "", pull[2] ?? "");
      } else if (manifest && (request.method === "GET" || request.method === "HEAD")) {
        response = await cachedManifest(request, env, url);
      }
      if (response) {
        if (env.AUDIT === "on") {
          const [repository = "", reference = ""] = url.pathname.slice(4).split(/\/(?:blobs|manifests)\//);
          auditLine(request, response, started, {
            repository,
            reference,
            kind: pull ? "blob" : "manifest",
            cache: "-",
          });
        }
        return response;
      }
    }
    const blob = BLOB_PATH.exec(url.pathname)?.[1];
    if (blob !== undefined && request.method === "PUT") {
      return putBlob(env, blob, Number(url.searchParams.get("size")));
    }
    if (blob !== undefined && request.method === "GET") return getBlob(request, env, ctx, blob);
    const fill = FILL_PATH.exec(url.pathname);
    if (fill && request.method === "GET") return fillBlob(request, env, ctx, fill[1] ?? "", fill[2] ?? "");
    const stored = STORED_PATH.exec(url.pathname);
    if (stored && request.method === "HEAD") {
      const head = await env.BLOBS.head(`fill/sha256:${stored[1]}`);
      return new Response(null, { status: head ? 200 : 404 });
    }
    const target = new URL(url.pathname + url.search, env.UPSTREAM);
    return fetch(new Request(target, request), { redirect: "manual" });
  },
} satisfies ExportedHandler<Env>;

/** A cold blob's fill in the digest's own Durable Object, with one log line once the put has landed. */
export class Filler extends DurableObject<Env> {
  override async fetch(request: Request): Promise<Response> {
    const [, repo = "", hex = ""] = /^\/(.+)\/([a-f0-9]{64})$/.exec(new URL(request.url).pathname) ?? [];
    const stored = (put: Promise<unknown>) =>
      this.ctx.waitUntil(
        put.then(() => {
          console.log(
            JSON.stringify({
              time: new Date().toISOString(),
              event: "blob.stored",
              digest: `sha256:${hex}`,
              from: "idle",
              via: "downloading → verified → uploading",
              way: "memory",
            }),
          );
        }),
      );
    return fillBlob(request, this.env, { waitUntil: stored }, repo, hex, `pull/sha256:${hex}`);
  }
}
