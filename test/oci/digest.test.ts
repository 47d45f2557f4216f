import { describe, expect, it } from "vitest";
import { DigestVerifier, digestOf, parseDigest, toHex, verifiedBody } from "../../src/oci/digest";
import { RegistryError } from "../../src/oci/errors";

const SHA256_EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const SHA256_ABC = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const SHA512_ABC =
  "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a" +
  "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";

describe("parseDigest", () => {
  it("reads a sha256 digest of 64 lower-case hex characters", () => {
    expect(parseDigest(SHA256_ABC)).toEqual({
      algorithm: "sha256",
      hex: SHA256_ABC.slice("sha256:".length),
      value: SHA256_ABC,
    });
  });

  it("reads a sha512 digest of 128 lower-case hex characters", () => {
    const digest = parseDigest(SHA512_ABC);
    expect(digest.algorithm).toBe("sha512");
    expect(digest.hex).toHaveLength(128);
    expect(digest.value).toBe(SHA512_ABC);
  });

  it.each([
    ["upper-case hex", `sha256:${"A".repeat(64)}`],
    ["mixed-case hex", `sha256:${"a".repeat(63)}F`],
    ["an upper-case algorithm", `SHA256:${"a".repeat(64)}`],
    ["a short sha256", "sha256:abc"],
    ["a sha256 one character short", `sha256:${"a".repeat(63)}`],
    ["a sha256 one character long", `sha256:${"a".repeat(65)}`],
    ["a sha256 with sha512's length", `sha256:${"a".repeat(128)}`],
    ["a sha512 with sha256's length", `sha512:${"a".repeat(64)}`],
    ["non-hex characters", `sha256:${"g".repeat(64)}`],
    ["an empty hex part", "sha256:"],
    ["an unknown algorithm", `md5:${"a".repeat(32)}`],
    ["an algorithm we cannot verify", `sha384:${"a".repeat(96)}`],
    ["a prototype property as the algorithm", `constructor:${"a".repeat(64)}`],
    ["a missing colon", `sha256${"a".repeat(64)}`],
    ["a missing algorithm", `:${"a".repeat(64)}`],
    ["a second colon", `sha256:${"a".repeat(31)}:${"a".repeat(32)}`],
    ["a tag", "latest"],
    ["an empty string", ""],
  ])("refuses %s with DIGEST_INVALID, status 400", (_case, input) => {
    let thrown: unknown;
    try {
      parseDigest(input);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(RegistryError);
    expect(thrown).toMatchObject({ status: 400, code: "DIGEST_INVALID" });
  });

  it("keeps the echoed input short in its message", () => {
    expect(() => parseDigest(`sha256:${"z".repeat(5000)}`)).toThrow(/^.{0,200}$/);
  });
});

describe("digestOf", () => {
  it("hashes bytes with sha256 by default", async () => {
    expect(await digestOf(new Uint8Array())).toBe(SHA256_EMPTY);
    expect(await digestOf(new TextEncoder().encode("abc"))).toBe(SHA256_ABC);
  });

  it("hashes with sha512 when asked", async () => {
    expect(await digestOf(new TextEncoder().encode("abc"), "sha512")).toBe(SHA512_ABC);
  });

  it("accepts an ArrayBuffer", async () => {
    const buffer = new ArrayBuffer(3);
    new Uint8Array(buffer).set([0x61, 0x62, 0x63]); // "abc"
    expect(await digestOf(buffer)).toBe(SHA256_ABC);
  });

  it("hashes only the bytes a view covers, not its whole buffer", async () => {
    const bytes = new TextEncoder().encode("xabcx");
    expect(await digestOf(bytes.subarray(1, 4))).toBe(SHA256_ABC);
  });

  it("produces digests that parseDigest accepts", async () => {
    const value = await digestOf(new TextEncoder().encode("layer"), "sha512");
    expect(parseDigest(value).value).toBe(value);
  });
});

describe("small helpers", () => {
  it("writes bytes as two lower-case hex digits each", () => {
    expect(toHex(new Uint8Array([0, 1, 15, 16, 171, 255]).buffer)).toBe("00010f10abff");
  });
});

describe("DigestVerifier: bytes checked against a digest as they stream past", () => {
  const data = new TextEncoder().encode("streamed in pieces");

  it("matches when the pieces hash to the digest, and leaves the pieces intact", async () => {
    const verifier = new DigestVerifier(parseDigest(await digestOf(data)));
    const first = data.subarray(0, 5);
    await verifier.update(first);
    await verifier.update(data.subarray(5));
    expect(first.byteLength).toBe(5);
    expect(await verifier.matches()).toBe(true);
  });

  it("does not match when a byte differs or is missing", async () => {
    const digest = parseDigest(await digestOf(data));
    const changed = new DigestVerifier(digest);
    await changed.update(new TextEncoder().encode("streamed in pieceS"));
    expect(await changed.matches()).toBe(false);
    const short = new DigestVerifier(digest);
    await short.update(data.subarray(1));
    expect(await short.matches()).toBe(false);
  });

  it("checks sha512 digests too", async () => {
    const verifier = new DigestVerifier(parseDigest(await digestOf(data, "sha512")));
    await verifier.update(data);
    expect(await verifier.matches()).toBe(true);
  });
});

describe("verifiedBody", () => {
  const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
  /** The bytes in 64 KiB pieces, as a network body arrives. */
  const pieces = (data: Uint8Array) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (let offset = 0; offset < data.length; offset += 65_536) {
          controller.enqueue(data.slice(offset, offset + 65_536));
        }
        controller.close();
      },
    });
  const read = async (stream: ReadableStream<Uint8Array>) => {
    const reader = stream.getReader();
    let received = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return { received, error: null };
        received += value.byteLength;
      }
    } catch (error) {
      return { received, error: String(error) };
    }
  };

  it("passes the body on and ends cleanly when it hashes to the digest", async () => {
    const digest = parseDigest(await digestOf(bytes));
    expect(await read(verifiedBody(pieces(bytes), digest, bytes.length))).toEqual({
      received: bytes.length,
      error: null,
    });
  });

  it("ends with an error before the last bytes when it does not", async () => {
    const digest = parseDigest(await digestOf(new Uint8Array([1, 2, 3])));
    const { received, error } = await read(verifiedBody(pieces(bytes), digest, bytes.length));
    expect(error).toMatch(/do not match/);
    expect(received).toBeLessThan(bytes.length);
  });

  it("ends with an error when the body is shorter or longer than its length", async () => {
    const digest = parseDigest(await digestOf(bytes));
    expect((await read(verifiedBody(pieces(bytes.slice(1)), digest, bytes.length))).error).toMatch(/ended/);
    expect((await read(verifiedBody(pieces(bytes), digest, bytes.length - 1))).error).toMatch(/longer/);
  });

  it("passes an empty blob", async () => {
    const digest = parseDigest(await digestOf(new Uint8Array()));
    expect(await read(verifiedBody(pieces(new Uint8Array()), digest, 0))).toEqual({
      received: 0,
      error: null,
    });
  });
});
