import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config/error";
import { parseWarmImages } from "../../src/config/warm-images";

const PREFIXES = new Set(["dockerhub", "quay"]);

describe("WARM_IMAGES", () => {
  it("reads a plain list, a JSON list and objects with platforms", () => {
    expect(parseWarmImages("dockerhub/library/node:22, quay/org/img", PREFIXES)).toEqual([
      {
        prefix: "dockerhub",
        name: "library/node",
        reference: "22",
        platforms: null,
        image: "dockerhub/library/node:22",
      },
      { prefix: "quay", name: "org/img", reference: "latest", platforms: null, image: "quay/org/img" },
    ]);
    const digest = `sha256:${"a".repeat(64)}`;
    expect(
      parseWarmImages(
        JSON.stringify([
          `quay/org/img@${digest}`,
          { image: "dockerhub/alpine:3.20", platforms: ["linux/arm64/v8"] },
        ]),
        PREFIXES,
      ),
    ).toMatchObject([
      { prefix: "quay", name: "org/img", reference: digest },
      { prefix: "dockerhub", name: "alpine", reference: "3.20", platforms: ["linux/arm64/v8"] },
    ]);
    expect(parseWarmImages([], PREFIXES)).toEqual([]);
    expect(parseWarmImages(undefined, PREFIXES)).toEqual([]);
  });

  it.each([
    ["an unknown prefix", "elsewhere/x:1", /WARM_IMAGES\[0\]: .* configured prefix/],
    ["a bad tag", "quay/org/img:-bad", /invalid tag/],
    ["a bad digest", "quay/org/img@sha256:abc", /invalid digest/],
    ["a bad name", "quay/Org/Img:1", /invalid repository name/],
    ["bad platforms", '[{"image":"quay/a:1","platforms":["amd64"]}]', /platforms/],
    ["bad JSON", "[", /not valid JSON/],
  ])("refuses %s, naming WARM_IMAGES", (_case, value, message) => {
    expect(() => parseWarmImages(value, PREFIXES)).toThrow(ConfigError);
    expect(() => parseWarmImages(value, PREFIXES)).toThrow(message);
  });
});
