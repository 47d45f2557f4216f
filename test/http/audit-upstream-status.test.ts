// The audit line's `upstreamStatus` (README, "Audit log"): the statuses of the upstream answers a
// request caused, also those the fill objects got on its behalf.
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { pushImage, type TestImage } from "../support/fake-registry";
import { ACCEPT_ALL, fakeUpstreams, mirror } from "../support/mirror";

let upstreams: ReturnType<typeof fakeUpstreams>;
let logs: string[];
let image: TestImage;
let seed = 800;

beforeEach(async () => {
  upstreams = fakeUpstreams();
  logs = [];
  vi.spyOn(console, "log").mockImplementation((line: string) => void logs.push(line));
  image = await pushImage(upstreams.quay, "org/audited", `v${++seed}`, seed);
});
afterEach(() => vi.restoreAllMocks());

function pullLines(): Array<Record<string, unknown>> {
  return logs
    .filter((line) => line.includes('"event":"pull"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

it("reports what the upstream answered a manifest miss made inside the manifest's fill object", async () => {
  const response = await mirror(`/v2/quay/org/audited/manifests/v${seed}`, {
    headers: { Accept: ACCEPT_ALL },
  });
  await response.arrayBuffer();
  expect(response.headers.get("X-Mirror-Cache")).toBe("MISS");
  expect(pullLines().at(-1)).toMatchObject({ cache: "MISS", upstreamStatus: "200" });

  // A miss the upstream refuses: its status is reported too.
  const missing = await mirror("/v2/quay/org/audited/manifests/no-such-tag", {
    headers: { Accept: ACCEPT_ALL },
  });
  expect(missing.status).toBe(404);
  expect(pullLines().at(-1)).toMatchObject({ status: 404, upstreamStatus: "404" });

  // A hit asks nobody: no upstreamStatus.
  await (
    await mirror(`/v2/quay/org/audited/manifests/v${seed}`, { headers: { Accept: ACCEPT_ALL } })
  ).arrayBuffer();
  expect(pullLines().at(-1)).toMatchObject({ cache: "HIT" });
  expect(pullLines().at(-1)?.upstreamStatus).toBeUndefined();
});

it("reports what the upstream answered a blob download made inside the blob's fill object", async () => {
  const response = await mirror(`/v2/quay/org/audited/blobs/${image.layerDigests[0]}`);
  await response.arrayBuffer();
  expect(response.status).toBe(200);
  expect(pullLines().at(-1)).toMatchObject({ cache: "MISS", upstreamStatus: "200" });
});
