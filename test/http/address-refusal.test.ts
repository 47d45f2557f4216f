// An upstream that refuses the mirror's address (a 429 without quota headers, like Docker Hub's abuse
// limit) is not asked again as another account of the pool, nor at all until its Retry-After; what the
// mirror holds is served meanwhile. Its own file: the refusal the mirror remembers lives as long as it.
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { pushImage, type TestImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams } from "../support/mirror";
import { send } from "../support/pull";

let upstreams: ReturnType<typeof fakeUpstreams>;
let image: TestImage;

beforeAll(async () => {
  upstreams = fakeUpstreams();
  vi.spyOn(console, "log").mockImplementation(() => {});
  image = await pushImage(upstreams.pool, "team/held", "1", 91);
  await pushImage(upstreams.pool, "team/cold", "1", 92);
});
afterAll(() => vi.restoreAllMocks());

const manifest = (path: string) => send(path, {}, { headers: { Accept: ACCEPT_ALL } });
const sentToPool = () => upstreams.pool.requests.filter((request) => request.kind !== "token").length;

it("sends one request per client request at most, then none until Retry-After; serves what it holds", async () => {
  // Held: the pool upstream has tagTtl 0, so every request asks the upstream again.
  expect((await manifest("/v2/pool/team/held/manifests/1")).response.status).toBe(200);

  upstreams.pool.failWith = 429; // every answer a 429 without quota headers, Retry-After: 42
  upstreams.pool.reset();
  const cold = await manifest("/v2/pool/team/cold/manifests/1");
  expect(cold.response.status).toBe(429);
  expect(cold.response.headers.get("Retry-After")).toBe("42");
  // One GET as one account: the pool's second account is not tried (it shares the address).
  expect(sentToPool()).toBe(1);

  // Until Retry-After nothing more is sent: held tags are served stale, the rest get 429.
  const held = await manifest("/v2/pool/team/held/manifests/1");
  expect(held.response.status).toBe(200);
  expect(held.response.headers.get("X-Mirror-Cache")).toBe("STALE");
  expect(held.response.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
  const again = await manifest("/v2/pool/team/cold/manifests/1");
  expect(again.response.status).toBe(429);
  expect(Number(again.response.headers.get("Retry-After"))).toBeGreaterThan(0);
  expect(Number(again.response.headers.get("Retry-After"))).toBeLessThanOrEqual(42);
  const blob = await send(`/v2/pool/team/cold/blobs/${image.layerDigests[0]}`);
  expect(blob.response.status).toBe(429);
  expect(sentToPool()).toBe(1);
});
