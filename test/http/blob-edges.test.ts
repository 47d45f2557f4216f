// HTTP edges of blobs whose upstream answers oddly: a HEAD without a length, a GET that ignores Range.
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { pushImage, type TestImage } from "../support/fake-registry";
import { bytesOf, fakeUpstreams, mirror } from "../support/mirror";

let upstreams: ReturnType<typeof fakeUpstreams>;
let image: TestImage;
let seed = 500;
beforeEach(async () => {
  upstreams = fakeUpstreams();
  vi.spyOn(console, "log").mockImplementation(() => {});
  image = await pushImage(upstreams.quay, "org/edge", "1.0", ++seed);
});
afterEach(() => vi.restoreAllMocks());

it("answers a blob HEAD with Content-Length when the upstream's HEAD had none, without fetching the body", async () => {
  upstreams.quay.headWithoutLength = true;
  const digest = image.layerDigests[0] ?? "";
  const response = await mirror(`/v2/quay/org/edge/blobs/${digest}`, { method: "HEAD" });
  expect(response.status).toBe(200);
  expect(response.headers.get("Content-Length")).toBe(String(image.layers[0]?.byteLength));
  // One byte was asked for, not the blob.
  const gets = upstreams.quay.requests.filter(
    (request) => request.kind === "blob" && request.method === "GET",
  );
  expect(gets.map((request) => request.headers.get("Range"))).toEqual(["bytes=0-0"]);
});

it("cuts the range itself, from the whole blob checked against its digest, when the upstream ignores Range", async () => {
  upstreams.quay.ignoresRange = true;
  const digest = image.layerDigests[0] ?? "";
  const response = await mirror(`/v2/quay/org/edge/blobs/${digest}`, { headers: { Range: "bytes=5-9000" } });
  expect(response.status).toBe(206);
  expect(response.headers.get("Content-Range")).toBe(`bytes 5-9000/${image.layers[0]?.byteLength}`);
  expect(await bytesOf(response)).toEqual(image.layers[0]?.slice(5, 9001));
});

it("never lets a range of wrong bytes end cleanly when the upstream ignores Range", async () => {
  upstreams.quay.ignoresRange = true;
  upstreams.quay.corruptBlobs = true;
  const digest = image.layerDigests[1] ?? "";
  const response = await mirror(`/v2/quay/org/edge/blobs/${digest}`, { headers: { Range: "bytes=0-9" } });
  await expect(response.arrayBuffer()).rejects.toThrow();
});
