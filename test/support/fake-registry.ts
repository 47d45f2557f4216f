/**
 * A fake upstream registry for tests inside workerd: it answers the Worker's outgoing fetches (we spy on
 * `globalThis.fetch`), speaks enough of the distribution API, does Basic or Bearer auth like real
 * registries, redirects blobs to a CDN host that refuses `Authorization`, and records every request.
 */
import { vi } from "vitest";

export type AuthMode = { kind: "none" } | { kind: "basic"; user: string; password: string } | BearerAuth;

interface BearerAuth {
  kind: "bearer";
  /** Origin of the token service, e.g. `https://auth.test`. */
  realmOrigin: string;
  service: string;
  /** Credentials required for repositories under `private/`; public ones are anonymous. */
  user: string;
  password: string;
  /** Further accounts the token service knows (user → password), e.g. for a pool of accounts. */
  others?: Readonly<Record<string, string>>;
  expiresIn?: number;
}

/** Docker Hub's pull quota: manifest GETs per identity (token subject; "" for anonymous) per window. */
export interface FakeQuota {
  limit: number;
  /** Seconds, as sent in `w=`; also the `Retry-After` of a 429. */
  window: number;
}

export interface RecordedRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Headers;
  readonly kind: "token" | "manifest" | "blob" | "cdn" | "tags" | "referrers" | "other";
}

interface StoredManifest {
  body: Uint8Array;
  mediaType: string;
}

export interface FakeRegistryOptions {
  origin: string;
  auth?: AuthMode;
  /** Redirect blob GETs to this origin (a CDN look-alike that rejects any Authorization). */
  cdnOrigin?: string;
  /**
   * Whether `referrers/` is implemented: answered from the manifests whose `subject` is the digest, with
   * `artifactType` filtering (else 404, like registries without the API).
   */
  referrers?: boolean;
  /** false: `tags/list` ignores `n` and `last` and lists tags in push order, as distribution 2.8 does. */
  tagPaging?: boolean;
}

export class FakeRegistry {
  readonly requests: RecordedRequest[] = [];
  private readonly manifests = new Map<string, Map<string, StoredManifest>>();
  private readonly blobs = new Map<string, Uint8Array>();
  private readonly members = new Map<string, Set<string>>();
  private readonly issued = new Map<string, { scope: string; user: string }>();
  private readonly auth: AuthMode;
  /** Set to make the upstream misbehave for one test. */
  corruptBlobs = false;
  failWith: number | null = null;
  /** Whole blob bodies send their first half, then pause this long before the rest (a fill in flight). */
  blobPauseMs = 0;
  /** The configured credentials stop working (a rotated password): Basic auth and the token service refuse them. */
  credentialsRevoked = false;
  /** When set, the CDN answers every request 401 with this `WWW-Authenticate` (a hostile redirect target). */
  cdnChallenge: string | null = null;
  /** Blob GETs ignore `Range` and answer 200 with the whole blob, as some servers and CDNs do. */
  ignoresRange = false;
  /** Blob HEADs answer without `Content-Length` (chunked), as some servers do. */
  headWithoutLength = false;
  /** When set, manifest GETs are counted per identity and refused (429) past the limit. */
  quota: FakeQuota | null = null;
  /** Manifest GETs counted per identity ("" = anonymous) since the quota was set. */
  readonly pulls = new Map<string, number>();

  constructor(private readonly options: FakeRegistryOptions) {
    this.auth = options.auth ?? { kind: "none" };
  }

  get origin(): string {
    return this.options.origin;
  }

  owns(url: URL): boolean {
    const origins = [this.options.origin, this.options.cdnOrigin];
    if (this.auth.kind === "bearer") origins.push(this.auth.realmOrigin);
    return origins.includes(url.origin);
  }

  /** A blob; with `repository`, only that repository holds it (as in real registries). */
  addBlob(bytes: Uint8Array, digest: string, repository?: string): void {
    this.blobs.set(digest, bytes);
    if (repository) this.members.set(digest, new Set([...(this.members.get(digest) ?? []), repository]));
  }

  addManifest(name: string, reference: string, manifest: StoredManifest, digest: string): void {
    const repository = this.manifests.get(name) ?? new Map<string, StoredManifest>();
    repository.set(reference, manifest);
    repository.set(digest, manifest);
    this.manifests.set(name, repository);
  }

  manifestAt(name: string, reference: string): StoredManifest | undefined {
    return this.manifests.get(name)?.get(reference);
  }

  count(kind: RecordedRequest["kind"], method?: string): number {
    return this.requests.filter((request) => request.kind === kind && (!method || request.method === method))
      .length;
  }

  reset(): void {
    this.requests.length = 0;
  }

  async handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (this.options.cdnOrigin && url.origin === this.options.cdnOrigin) return this.cdn(request, url);
    if (this.auth.kind === "bearer" && url.origin === this.auth.realmOrigin)
      return this.token(request, url, this.auth);

    const match = /^\/v2\/(.+)\/(manifests|blobs|referrers)\/([^/]+)$/.exec(url.pathname);
    const tags = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname);
    const kind = match
      ? match[2] === "manifests"
        ? "manifest"
        : match[2] === "blobs"
          ? "blob"
          : "referrers"
      : tags
        ? "tags"
        : "other";
    this.record(request, url, kind);
    if (this.failWith)
      return error(this.failWith, "UNAVAILABLE", "failing on purpose", { "Retry-After": "42" });

    const name = match?.[1] ?? tags?.[1] ?? "";
    const denied = this.authorize(request, name);
    if (denied) return denied;

    if (tags) return this.tagList(name, url);
    if (!match) return new Response("{}", { headers: { "Content-Type": "application/json" } });
    const reference = decodeURIComponent(match[3] ?? "");
    if (match[2] === "manifests") return this.manifest(request, name, reference);
    if (match[2] === "referrers") {
      return this.options.referrers
        ? this.referrersOf(name, reference, url.searchParams.get("artifactType"))
        : error(404, "UNSUPPORTED", "no referrers API");
    }
    return this.blob(request, name, reference);
  }

  private record(request: Request, url: URL, kind: RecordedRequest["kind"]): void {
    this.requests.push({ method: request.method, url, headers: new Headers(request.headers), kind });
  }

  /** Returns a 401 (with a challenge) when the request lacks what this registry requires. */
  private authorize(request: Request, name: string): Response | null {
    const header = request.headers.get("Authorization") ?? "";
    if (this.auth.kind === "none") return null;
    if (this.auth.kind === "basic") {
      const expected = `Basic ${btoa(`${this.auth.user}:${this.auth.password}`)}`;
      return header === expected && !this.credentialsRevoked
        ? null
        : error(401, "UNAUTHORIZED", "authentication required", {
            "WWW-Authenticate": `Basic realm="fake registry"`,
          });
    }
    const scope = `repository:${name}:pull`;
    const token = header.startsWith("Bearer ") ? this.issued.get(header.slice(7)) : undefined;
    if (token && token.scope === scope) return null;
    return error(401, "UNAUTHORIZED", "authentication required", {
      "WWW-Authenticate": `Bearer realm="${this.auth.realmOrigin}/token",service="${this.auth.service}",scope="${scope},push"`,
    });
  }

  private token(request: Request, url: URL, auth: BearerAuth): Response {
    this.record(request, url, "token");
    const header = request.headers.get("Authorization");
    const accounts = { ...auth.others, [auth.user]: auth.password };
    const user = Object.entries(accounts).find(
      ([name, password]) => header === `Basic ${btoa(`${name}:${password}`)}`,
    )?.[0];
    const authenticated = user !== undefined && !this.credentialsRevoked;
    if (header && !authenticated) return error(401, "UNAUTHORIZED", "bad credentials");
    if (url.searchParams.get("service") !== auth.service) return error(400, "UNSUPPORTED", "wrong service");
    const scope = url.searchParams.get("scope") ?? "";
    const repository = scope.split(":")[1] ?? "";
    const granted = repository.startsWith("private/") && !authenticated ? "" : scope;
    const token = `token-${crypto.randomUUID()}`;
    this.issued.set(token, { scope: granted, user: authenticated ? (user ?? "") : "" });
    return Response.json({ token, expires_in: auth.expiresIn ?? 300, issued_at: new Date().toISOString() });
  }

  /** Who a request speaks for: the token's or the Basic user; "" for anonymous. */
  identity(request: Request): string {
    const header = request.headers.get("Authorization") ?? "";
    if (header.startsWith("Bearer ")) return this.issued.get(header.slice(7))?.user ?? "";
    if (header.startsWith("Basic ")) return atob(header.slice(6)).split(":")[0] ?? "";
    return "";
  }

  /** The quota headers for `identity` (counting a GET), or a 429 once its quota is spent. */
  private quotaHeaders(request: Request): Response | Record<string, string> {
    const quota = this.quota;
    // Without a quota set: a fixed reading, like Docker Hub's for an account with plenty left.
    if (!quota) return { "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "99;w=21600" };
    const who = this.identity(request);
    const used = this.pulls.get(who) ?? 0;
    const headers = (remaining: number) => ({
      "ratelimit-limit": `${quota.limit};w=${quota.window}`,
      "ratelimit-remaining": `${remaining};w=${quota.window}`,
      "docker-ratelimit-source": who || "203.0.113.1",
    });
    if (request.method !== "GET") return headers(Math.max(0, quota.limit - used));
    if (used >= quota.limit) {
      return error(429, "TOOMANYREQUESTS", "You have reached your pull rate limit.", {
        ...headers(0),
        "Retry-After": String(quota.window),
      });
    }
    this.pulls.set(who, used + 1);
    return headers(quota.limit - used - 1);
  }

  private manifest(request: Request, name: string, reference: string): Response {
    let manifest = this.manifests.get(name)?.get(reference);
    if (!manifest) return error(404, "MANIFEST_UNKNOWN", "manifest unknown");
    const accept = request.headers.get("Accept") ?? "";
    const isIndex = manifest.mediaType.includes("index") || manifest.mediaType.includes("list");
    if (isIndex && accept && !accept.includes(manifest.mediaType)) {
      // Like registries that resolve an index for clients that cannot take one: the first platform.
      const index = JSON.parse(new TextDecoder().decode(manifest.body)) as {
        manifests: Array<{ digest: string }>;
      };
      const first = index.manifests[0]?.digest ?? "";
      manifest = this.manifests.get(name)?.get(first);
      if (!manifest) return error(404, "MANIFEST_UNKNOWN", "manifest unknown");
    }
    const digest = digestOfSync(manifest);
    // Like Docker Hub: what is left of the pull budget (GETs count, HEADs do not).
    const quota = this.quotaHeaders(request);
    if (quota instanceof Response) return quota;
    return new Response(request.method === "HEAD" ? null : manifest.body, {
      headers: {
        "Content-Type": manifest.mediaType,
        "Content-Length": String(manifest.body.byteLength),
        "Docker-Content-Digest": digest,
        ...quota,
      },
    });
  }

  private blob(request: Request, name: string, digest: string): Response {
    const bytes = this.blobs.get(digest);
    const members = this.members.get(digest);
    if (!bytes || (members && !members.has(name))) return error(404, "BLOB_UNKNOWN", "blob unknown");
    if (this.options.cdnOrigin) {
      return new Response(null, {
        status: 307,
        headers: { Location: `${this.options.cdnOrigin}/blobs/${digest}?signature=abc` },
      });
    }
    return this.blobAnswer(request, bytes, digest, this.blobPauseMs);
  }

  private blobAnswer(request: Request, bytes: Uint8Array, digest: string, pauseMs = 0): Response {
    if (request.method === "HEAD" && this.headWithoutLength) {
      return new Response(null, {
        headers: { "Content-Type": "application/octet-stream", "Docker-Content-Digest": digest },
      });
    }
    const plain = this.ignoresRange ? new Request(request, { headers: {} }) : request;
    return blobBody(plain, bytes, digest, this.corruptBlobs, pauseMs);
  }

  private cdn(request: Request, url: URL): Response {
    this.record(request, url, "cdn");
    if (this.cdnChallenge !== null) {
      return error(401, "UNAUTHORIZED", "log in here", { "WWW-Authenticate": this.cdnChallenge });
    }
    if (request.headers.has("Authorization")) return new Response("no Authorization here", { status: 400 });
    // Like S3 signed URLs: signed for GET, so a HEAD does not match the signature.
    if (request.method !== "GET") return new Response(null, { status: 403 });
    const digest = /^\/blobs\/(.+)$/.exec(url.pathname)?.[1] ?? "";
    const bytes = this.blobs.get(digest);
    if (!bytes) return new Response("not found", { status: 404 });
    return this.blobAnswer(request, bytes, digest);
  }

  /** The referrers API of OCI 1.1: descriptors of the manifests whose `subject` is `digest`. */
  private referrersOf(name: string, digest: string, artifactType: string | null): Response {
    const seen = new Set<string>();
    const manifests = [];
    for (const manifest of this.manifests.get(name)?.values() ?? []) {
      const manifestDigest = digestOfSync(manifest);
      if (seen.has(manifestDigest)) continue;
      seen.add(manifestDigest);
      const parsed = JSON.parse(new TextDecoder().decode(manifest.body)) as {
        subject?: { digest?: string };
        artifactType?: string;
        config?: { mediaType?: string };
        annotations?: Record<string, string>;
      };
      if (parsed.subject?.digest !== digest) continue;
      const type = parsed.artifactType ?? parsed.config?.mediaType;
      if (artifactType !== null && type !== artifactType) continue;
      manifests.push({
        mediaType: manifest.mediaType,
        digest: manifestDigest,
        size: manifest.body.byteLength,
        artifactType: type,
        ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
      });
    }
    const headers: Record<string, string> = { "Content-Type": "application/vnd.oci.image.index.v1+json" };
    if (artifactType !== null) headers["OCI-Filters-Applied"] = "artifactType";
    return Response.json(
      { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests },
      { headers },
    );
  }

  private tagList(name: string, url: URL): Response {
    const repository = this.manifests.get(name);
    if (!repository) return error(404, "NAME_UNKNOWN", "repository unknown");
    const pushed = [...repository.keys()].filter((tag) => !tag.includes(":"));
    if (this.options.tagPaging === false) {
      // Newest first: neither sorted nor paged.
      return Response.json({ name, tags: pushed.reverse() });
    }
    const all = pushed.sort();
    const last = url.searchParams.get("last");
    const n = Number(url.searchParams.get("n") ?? all.length);
    const rest = last ? all.filter((tag) => tag > last) : all;
    const page = rest.slice(0, n);
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (rest.length > n) headers.Link = `</v2/${name}/tags/list?n=${n}&last=${page.at(-1)}>; rel="next"`;
    return new Response(JSON.stringify({ name, tags: page }), { headers });
  }
}

function blobBody(
  request: Request,
  bytes: Uint8Array,
  digest: string,
  corrupt: boolean,
  pauseMs = 0,
): Response {
  const body = corrupt ? bytes.map((byte) => byte ^ 0xff) : bytes;
  const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.get("Range") ?? "");
  const headers: Record<string, string> = {
    "Content-Type": "application/octet-stream",
    "Docker-Content-Digest": digest,
  };
  if (range) {
    const start = Number(range[1]);
    const end = range[2] ? Math.min(Number(range[2]), bytes.length - 1) : bytes.length - 1;
    headers["Content-Range"] = `bytes ${start}-${end}/${bytes.length}`;
    headers["Content-Length"] = String(end - start + 1);
    return new Response(request.method === "HEAD" ? null : body.slice(start, end + 1), {
      status: 206,
      headers,
    });
  }
  headers["Content-Length"] = String(bytes.length);
  if (request.method === "HEAD") return new Response(null, { headers });
  if (pauseMs === 0) return new Response(body, { headers });
  const half = Math.floor(body.length / 2);
  const pieces = [body.slice(0, half), body.slice(half)];
  let sent = 0;
  const paused = new ReadableStream<Uint8Array>({
    async pull(controller) {
      // The timer runs in the reader's context (the fill object), where it may.
      if (sent === 1) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      const piece = pieces[sent++];
      if (piece) controller.enqueue(piece);
      if (sent === pieces.length) controller.close();
    },
  });
  return new Response(paused, { headers });
}

function error(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return Response.json({ errors: [{ code, message }] }, { status, headers });
}

const digests = new WeakMap<StoredManifest, string>();
function digestOfSync(manifest: StoredManifest): string {
  const digest = digests.get(manifest);
  if (!digest) throw new Error("manifest added without a digest");
  return digest;
}

export async function sha256(bytes: Uint8Array): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", bytes);
  return `sha256:${[...new Uint8Array(hash)].map((byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}

/** The chunks one after another, as one array. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, chunk) => n + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Deterministic pseudo-random bytes (xorshift), so blobs have stable digests. */
export function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed || 1;
  for (let index = 0; index < length; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[index] = state & 0xff;
  }
  return bytes;
}

export interface TestImage {
  readonly indexDigest: string;
  readonly manifestDigests: readonly string[];
  readonly layerDigests: readonly string[];
  readonly layers: readonly Uint8Array[];
}

/** Pushes a two-platform OCI image (index → manifests → config + layer) into the fake registry. */
export async function pushImage(
  registry: FakeRegistry,
  name: string,
  tag: string,
  seed = 1,
): Promise<TestImage> {
  const encoder = new TextEncoder();
  const platforms = ["amd64", "arm64"];
  const manifestDigests: string[] = [];
  const layerDigests: string[] = [];
  const layers: Uint8Array[] = [];
  const entries = [];
  for (const [index, architecture] of platforms.entries()) {
    const layer = pseudoRandomBytes(64 * 1024 + index, seed * 100 + index);
    const layerDigest = await sha256(layer);
    registry.addBlob(layer, layerDigest, name);
    const config = encoder.encode(
      JSON.stringify({ architecture, os: "linux", rootfs: { type: "layers", diff_ids: [layerDigest] } }),
    );
    const configDigest = await sha256(config);
    registry.addBlob(config, configDigest, name);
    const manifest = encoder.encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: {
          mediaType: "application/vnd.oci.image.config.v1+json",
          digest: configDigest,
          size: config.length,
        },
        layers: [
          {
            mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
            digest: layerDigest,
            size: layer.length,
          },
        ],
      }),
    );
    const manifestDigest = await sha256(manifest);
    await addManifest(registry, name, manifestDigest, manifest, "application/vnd.oci.image.manifest.v1+json");
    manifestDigests.push(manifestDigest);
    layerDigests.push(layerDigest);
    layers.push(layer);
    entries.push({
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: manifestDigest,
      size: manifest.length,
      platform: { architecture, os: "linux" },
    });
  }
  const index = encoder.encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: entries,
    }),
  );
  const indexDigest = await sha256(index);
  await addManifest(registry, name, tag, index, "application/vnd.oci.image.index.v1+json", indexDigest);
  return { indexDigest, manifestDigests, layerDigests, layers };
}

/** A manifest of the caller's own making under `reference` (and its digest); resolves the digest. */
export async function pushManifest(
  registry: FakeRegistry,
  name: string,
  reference: string,
  body: Uint8Array,
  mediaType: string,
): Promise<string> {
  const digest = await sha256(body);
  await addManifest(registry, name, reference, body, mediaType, digest);
  return digest;
}

async function addManifest(
  registry: FakeRegistry,
  name: string,
  reference: string,
  body: Uint8Array,
  mediaType: string,
  known?: string,
): Promise<void> {
  const digest = known ?? (await sha256(body));
  const manifest = { body, mediaType };
  digests.set(manifest, digest);
  registry.addManifest(name, reference, manifest, digest);
}

/**
 * Pushes an artifact that refers to `subject` (an SBOM, a signature): a manifest with `subject` and
 * `artifactType`. With `tagSchema`, it is also listed in the index under the subject's referrers tag
 * (`sha256-<hex>`), as clients push to registries without the referrers API.
 */
export async function pushReferrer(
  registry: FakeRegistry,
  name: string,
  subject: { digest: string; size: number },
  artifactType: string,
  tagSchema: boolean,
): Promise<{ digest: string; size: number; artifactType: string }> {
  const encoder = new TextEncoder();
  const empty = encoder.encode("{}");
  const emptyDigest = await sha256(empty);
  registry.addBlob(empty, emptyDigest, name);
  const mediaType = "application/vnd.oci.image.manifest.v1+json";
  const body = encoder.encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      artifactType,
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: emptyDigest, size: empty.length },
      layers: [{ mediaType: "application/vnd.oci.empty.v1+json", digest: emptyDigest, size: empty.length }],
      subject: { mediaType: "application/vnd.oci.image.index.v1+json", ...subject },
      annotations: { "org.example.kind": artifactType },
    }),
  );
  const digest = await sha256(body);
  await addManifest(registry, name, digest, body, mediaType, digest);
  const descriptor = {
    mediaType,
    digest,
    size: body.length,
    artifactType,
    annotations: { "org.example.kind": artifactType },
  };
  if (tagSchema) {
    const tag = subject.digest.replace(":", "-");
    const existing = registry.manifestAt(name, tag);
    const index = existing
      ? (JSON.parse(new TextDecoder().decode(existing.body)) as { manifests: unknown[] })
      : { manifests: [] };
    const updated = encoder.encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [...index.manifests, descriptor],
      }),
    );
    await addManifest(registry, name, tag, updated, "application/vnd.oci.image.index.v1+json");
  }
  return { digest, size: body.length, artifactType };
}

/**
 * Routes the Worker's outgoing fetches to the fake registries; anything else fails the test loudly
 * (a mirror must never contact a host that is not configured).
 */
/** Anything that answers requests to its own origin(s): a fake registry, a fake OIDC issuer. */
export interface FakeHost {
  owns(url: URL): boolean;
  handle(request: Request): Promise<Response>;
}

export function interceptFetch(registries: readonly FakeHost[]) {
  const unexpected: string[] = [];
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const registry = registries.find((candidate) => candidate.owns(url));
    if (!registry) {
      unexpected.push(request.url);
      throw new TypeError(`unexpected fetch to ${request.url}`);
    }
    return registry.handle(request);
  });
  return { spy, unexpected };
}
