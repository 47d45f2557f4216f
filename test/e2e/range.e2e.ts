// Range requests on a cached blob return exactly the requested bytes of the source file.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { admin, bed } from "./harness/context.ts";
import { blobFile } from "./harness/images.ts";
import { describeResponse, fetchBlob, waitUntilStored } from "./harness/mirror-client.ts";

const b = bed();
const { ranged } = b.images;
const layer = ranged.manifests[0]?.layers[0];
if (!layer) throw new Error("ranged image has no layer");
const path = `/v2/quay/${ranged.repo}/blobs/${layer.digest}`;
const source = blobFile({ layout: ranged.layout }, layer.digest);
const size = statSync(source).size;
const MID = Math.floor(size / 2) + 7;

function slice(start: number, endInclusive: number): Buffer {
  const buf = Buffer.alloc(endInclusive - start + 1);
  const fd = openSync(source, "r");
  try {
    readSync(fd, buf, 0, buf.length, start);
  } finally {
    closeSync(fd);
  }
  return buf;
}

beforeAll(async () => {
  // The first GET puts the blob in R2 (right after streaming it).
  const r = await fetchBlob(path);
  expect(r.status, describeResponse(`GET ${path}`, r)).toBe(200);
  expect(r.digest).toBe(layer.digest);
  await waitUntilStored(path);
  await admin().reset();
});

describe(`Range on a cached ${Math.round(size / 2 ** 20)} MiB blob`, () => {
  const cases: [string, string, number, number][] = [
    ["the first bytes", "bytes=0-99", 0, 99],
    ["a 1 MiB window in the middle", `bytes=${MID}-${MID + 2 ** 20 - 1}`, MID, MID + 2 ** 20 - 1],
    ["an open-ended range to the end", `bytes=${size - 1000}-`, size - 1000, size - 1],
    ["a suffix range", "bytes=-4096", size - 4096, size - 1],
    ["a range past the end is clipped", `bytes=${size - 10}-${size + 1000}`, size - 10, size - 1],
  ];

  it.each(cases)("%s (%s) → 206 with the source bytes", async (_what, range, start, end) => {
    const r = await fetchBlob(path, { range });
    expect(r.status, describeResponse(`GET ${path} Range: ${range}`, r)).toBe(206);
    expect(r.headers.get("content-range")).toBe(`bytes ${start}-${end}/${size}`);
    expect(r.body.length).toBe(end - start + 1);
    expect(r.body.equals(slice(start, end))).toBe(true);
  });

  it("an unsatisfiable range → 416", async () => {
    const r = await fetchBlob(path, { range: `bytes=${size + 10}-${size + 20}` });
    expect(r.status).toBe(416);
  });

  it("none of these reached an upstream", async () => {
    expect(await admin().requests()).toEqual([]);
  });
});
