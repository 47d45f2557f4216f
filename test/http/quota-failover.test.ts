// A 429 moves the request to the next account of the pool (its own file: the quota state the mirror
// keeps lives as long as the file).
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import type { StatsSnapshot } from "../../src/platform/stats-object";
import { pushImage, type TestImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams } from "../support/mirror";
import { POOL_ACCOUNTS } from "../support/pool-accounts";
import { send } from "../support/pull";

const ADMIN = "admin-token-for-failover-tests";
let upstreams: ReturnType<typeof fakeUpstreams>;
let image: TestImage;

beforeAll(async () => {
  upstreams = fakeUpstreams();
  vi.spyOn(console, "log").mockImplementation(() => {});
  upstreams.pool.quota = { limit: 3, window: 60 };
  image = await pushImage(upstreams.pool, "team/x", "1", 77);
});
afterAll(() => vi.restoreAllMocks());

it("moves a counted request to the next account on a 429 and remembers the spent account", async () => {
  const [first, second] = POOL_ACCOUNTS;
  upstreams.pool.pulls.set(first.username, 3); // spent elsewhere: the mirror has not seen it yet
  const { response } = await send(`/v2/pool/team/x/manifests/1`, {}, { headers: { Accept: ACCEPT_ALL } });
  expect(response.status).toBe(200);
  expect(response.headers.get("Docker-Content-Digest")).toBe(image.indexDigest);
  expect(upstreams.pool.pulls.get(second.username)).toBe(1);

  // Tokens are asked per account: each account's token is what its requests count against.
  const tokenUsers = upstreams.pool.requests
    .filter((request) => request.kind === "token")
    .map((request) => atob((request.headers.get("Authorization") ?? "").slice(6)).split(":")[0]);
  expect(new Set(tokenUsers)).toEqual(new Set([first.username, second.username]));

  // The spent account is not asked again while the upstream's Retry-After runs.
  const gets = upstreams.pool.count("manifest", "GET");
  expect(
    (
      await send(
        `/v2/pool/team/x/manifests/${image.manifestDigests[0]}`,
        {},
        { headers: { Accept: ACCEPT_ALL } },
      )
    ).response.status,
  ).toBe(200);
  expect(upstreams.pool.count("manifest", "GET")).toBe(gets + 1);
  expect(upstreams.pool.pulls.get(second.username)).toBe(2);

  const { body } = await send(
    "/_/stats",
    { ADMIN_TOKEN: ADMIN },
    { headers: { Authorization: `Bearer ${ADMIN}` } },
  );
  const stats = JSON.parse(new TextDecoder().decode(body)) as StatsSnapshot;
  const quota = stats.upstreams.pool?.quota ?? [];
  expect(quota.find((entry) => entry.account === first.username)).toMatchObject({ remaining: 0 });
  expect(quota.find((entry) => entry.account === first.username)?.exhaustedUntil).toBeTruthy();
  expect(quota.find((entry) => entry.account === second.username)).toMatchObject({
    remaining: 1,
    exhaustedUntil: null,
  });
  expect(stats.upstreams.pool?.quotaExhausted).toBe(false);
  expect(stats.upstreams.pool?.tooManyRequests).toBe(1);
});
