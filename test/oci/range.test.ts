import { describe, expect, it } from "vitest";
import { RegistryError } from "../../src/oci/errors";
import { parseRange, type RangeSpec, resolveRange } from "../../src/oci/range";

function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error("did not throw");
}

describe("parseRange reads a single bytes range", () => {
  it("gives null when there is no Range header: the whole blob is wanted", () => {
    expect(parseRange(null)).toBeNull();
  });

  it.each<[string, RangeSpec]>([
    ["bytes=0-99", { kind: "from", start: 0, end: 99 }],
    ["bytes=0-0", { kind: "from", start: 0, end: 0 }],
    ["bytes=100-", { kind: "from", start: 100 }],
    ["bytes=-500", { kind: "suffix", length: 500 }],
    ["bytes=-0", { kind: "suffix", length: 0 }],
    [" bytes=5-9 ", { kind: "from", start: 5, end: 9 }],
    ["bytes=123456789012345-", { kind: "from", start: 123456789012345 }],
  ])("%s", (header, spec) => {
    expect(parseRange(header)).toEqual(spec);
  });

  it.each([
    ["several ranges", "bytes=0-9,20-29"],
    ["several ranges with a space", "bytes=0-9, 20-29"],
    ["an end before its start", "bytes=10-5"],
    ["no numbers", "bytes=-"],
    ["no dash", "bytes=10"],
    ["letters", "bytes=a-b"],
    ["a negative start", "bytes=--5"],
    ["a decimal", "bytes=1.5-2"],
    ["an empty value", ""],
    ["a missing unit", "0-9"],
    ["an over-long number", "bytes=1234567890123456-"],
  ])("ignores %s, so the whole blob is served (RFC 9110 §14.2)", (_case, header) => {
    expect(parseRange(header)).toBeNull();
  });
});

it("reads the unit case-insensitively (RFC 9110 §14.1)", () => {
  expect(parseRange("Bytes=0-9")).toEqual({ kind: "from", start: 0, end: 9 });
});

it("ignores a unit other than bytes, so the whole blob is served (RFC 9110 §14.2)", () => {
  expect(parseRange("items=0-9")).toBeNull();
});

describe("resolveRange places a range inside a blob of known size", () => {
  it("keeps a range that lies inside the blob", () => {
    expect(resolveRange({ kind: "from", start: 10, end: 19 }, 100)).toEqual({ start: 10, end: 19 });
  });

  it("reads an open range to the last byte", () => {
    expect(resolveRange({ kind: "from", start: 90 }, 100)).toEqual({ start: 90, end: 99 });
  });

  it("clamps an end past the blob to its last byte", () => {
    expect(resolveRange({ kind: "from", start: 90, end: 1000 }, 100)).toEqual({ start: 90, end: 99 });
  });

  it("serves the last n bytes for a suffix range", () => {
    expect(resolveRange({ kind: "suffix", length: 10 }, 100)).toEqual({ start: 90, end: 99 });
  });

  it("serves the whole blob for a suffix longer than the blob", () => {
    expect(resolveRange({ kind: "suffix", length: 500 }, 100)).toEqual({ start: 0, end: 99 });
  });

  it("serves a one-byte range at the last byte", () => {
    expect(resolveRange({ kind: "from", start: 99, end: 99 }, 100)).toEqual({ start: 99, end: 99 });
  });

  it.each<[string, RangeSpec, number]>([
    ["a start at the size", { kind: "from", start: 100 }, 100],
    ["a start past the size", { kind: "from", start: 150, end: 200 }, 100],
    ["an empty suffix", { kind: "suffix", length: 0 }, 100],
    ["any suffix of an empty blob", { kind: "suffix", length: 10 }, 0],
    ["any range of an empty blob", { kind: "from", start: 0 }, 0],
  ])("refuses %s as unsatisfiable: 416 with Content-Range bytes */size", (_case, spec, size) => {
    const error = thrownBy(() => resolveRange(spec, size));
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({
      status: 416,
      code: "RANGE_INVALID",
      headers: { "Content-Range": `bytes */${size}` },
    });
  });

  it("works end to end from header to offsets", () => {
    const spec = parseRange("bytes=-3");
    expect(spec && resolveRange(spec, 10)).toEqual({ start: 7, end: 9 });
  });
});
