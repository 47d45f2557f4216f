/** The mirror under test, its fake upstreams (see vitest.config.ts for their configuration) and helpers. */
import { env, exports } from "cloudflare:workers";
import { type FakeHost, FakeRegistry, interceptFetch } from "./fake-registry";
import { POOL_ACCOUNTS } from "./pool-accounts";

export const UPSTREAM_CREDENTIALS = { user: "mirror-robot", password: "s3cret-upstream-password" };

/** The fake upstreams of vitest.config.ts, and any further hosts (`others`) the test needs to answer. */
export function fakeUpstreams(others: readonly FakeHost[] = []) {
  const hub = new FakeRegistry({
    origin: "https://hub.test",
    cdnOrigin: "https://cdn.hub.test",
    auth: {
      kind: "bearer",
      realmOrigin: "https://auth.hub.test",
      service: "hub.test",
      user: "nobody",
      password: "x",
    },
  });
  const quay = new FakeRegistry({ origin: "https://quay.test", referrers: false });
  const basic = new FakeRegistry({
    origin: "https://basic.test",
    auth: { kind: "basic", user: UPSTREAM_CREDENTIALS.user, password: UPSTREAM_CREDENTIALS.password },
  });
  const tokens = new FakeRegistry({
    origin: "https://tokens.test",
    auth: {
      kind: "bearer",
      realmOrigin: "https://auth.tokens.test",
      service: "tokens.test",
      user: UPSTREAM_CREDENTIALS.user,
      password: UPSTREAM_CREDENTIALS.password,
    },
  });
  const oci = new FakeRegistry({ origin: "https://oci.test", referrers: true });
  const legacy = new FakeRegistry({ origin: "https://legacy.test", referrers: false, tagPaging: false });
  const [first, second] = POOL_ACCOUNTS;
  const pool = new FakeRegistry({
    origin: "https://pool.test",
    auth: {
      kind: "bearer",
      realmOrigin: "https://auth.pool.test",
      service: "pool.test",
      user: first.username,
      password: first.password,
      others: { [second.username]: second.password },
    },
  });
  const intercepted = interceptFetch([hub, quay, basic, tokens, oci, legacy, pool, ...others]);
  return { hub, quay, basic, tokens, oci, legacy, pool, ...intercepted };
}

/** A request to the mirror, as a client would send it. */
export function mirror(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(new Request(`http://mirror.test${path}`, init));
}

export const ACCEPT_ALL = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

/**
 * Waits (bounded: 10 s, enough on a loaded 2-core machine) until a blob fill that runs after the
 * response — the fill object's alarm uploads it, giving way to clients — has landed in R2.
 */
export async function storedBlob(digest: string): Promise<R2Object | null> {
  const [algorithm, hex] = digest.split(":");
  const deadline = Date.now() + 10_000;
  for (;;) {
    const object = await env.BLOBS.head(`blobs/${algorithm}/${hex}`);
    if (object || Date.now() > deadline) return object;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function bytesOf(response: Response): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer());
}
