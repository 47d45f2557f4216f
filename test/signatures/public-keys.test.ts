import { describe, expect, it } from "vitest";
import { ecdsaDerToRaw } from "../../src/signatures/der";
import { KeyFormatError, parsePublicKey, verifySignature } from "../../src/signatures/public-keys";
import { generateKey } from "../support/cosign";
// Made by the openssl CLI (make-openssl-fixtures.sh): a verifier independent of WebCrypto signed these.
import fixtures from "./openssl-fixtures.json";

const bytes = (base64: string) => Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
const message = bytes(fixtures.message);
const KINDS = ["ecdsa-p256", "rsa", "ed25519"] as const;

describe("parsePublicKey tells the key type from the PEM", () => {
  it.each(KINDS)("reads an openssl %s public key", (kind) => {
    expect(parsePublicKey(fixtures[kind].pem).kind).toBe(kind);
  });

  it("refuses an ECDSA key on another curve than P-256", () => {
    expect(() => parsePublicKey(fixtures["ecdsa-p384"].pem)).toThrow(/P-256/);
  });

  it.each([
    ["not a PEM", "ssh-ed25519 AAAAC3Nza"],
    ["a private key", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----"],
    ["bad base64", "-----BEGIN PUBLIC KEY-----\n%%%%\n-----END PUBLIC KEY-----"],
    ["no SubjectPublicKeyInfo", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"],
  ])("refuses %s", (_what, pem) => {
    expect(() => parsePublicKey(pem)).toThrow(KeyFormatError);
  });
});

describe("verifySignature checks signatures openssl made", () => {
  it.each(KINDS)("accepts openssl's %s signature over the payload", async (kind) => {
    const key = parsePublicKey(fixtures[kind].pem);
    expect(await verifySignature(key, message, bytes(fixtures[kind].signature))).toBe(true);
  });

  it.each(KINDS)("refuses the %s signature over another payload", async (kind) => {
    const key = parsePublicKey(fixtures[kind].pem);
    const tampered = message.slice();
    tampered[10] = (tampered[10] ?? 0) ^ 1;
    expect(await verifySignature(key, tampered, bytes(fixtures[kind].signature))).toBe(false);
  });

  it.each(KINDS)("refuses the %s signature checked with another key", async (kind) => {
    const other = parsePublicKey((await generateKey(kind)).pem);
    expect(await verifySignature(other, message, bytes(fixtures[kind].signature))).toBe(false);
  });

  it("refuses garbage in place of an ECDSA signature without throwing", async () => {
    const key = parsePublicKey(fixtures["ecdsa-p256"].pem);
    expect(await verifySignature(key, message, new Uint8Array([0x30, 0x99, 1, 2]))).toBe(false);
    expect(await verifySignature(key, message, new Uint8Array(64))).toBe(false);
  });
});

describe("the test signer makes what openssl's verifier would accept", () => {
  it.each(KINDS)("a %s signature of the test signer verifies like openssl's", async (kind) => {
    const signer = await generateKey(kind);
    const key = parsePublicKey(signer.pem);
    expect(key.kind).toBe(kind);
    expect(await verifySignature(key, message, await signer.sign(message))).toBe(true);
  });
});

describe("ecdsaDerToRaw", () => {
  it("drops the sign byte and left-pads short integers", () => {
    const der = Uint8Array.of(0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x05);
    const raw = ecdsaDerToRaw(der, 32);
    expect(raw?.[31]).toBe(0x80);
    expect(raw?.[63]).toBe(0x05);
    expect(raw?.slice(0, 31).every((byte) => byte === 0)).toBe(true);
  });

  it("refuses integers wider than the curve and trailing bytes", () => {
    const wide = Uint8Array.of(0x30, 0x25, 0x02, 0x21, ...new Uint8Array(33).fill(0x7f), 0x02, 0x00);
    expect(ecdsaDerToRaw(wide, 32)).toBeNull();
    expect(ecdsaDerToRaw(Uint8Array.of(0x30, 0x06, 0x02, 0x01, 1, 0x02, 0x01, 1, 0), 32)).toBeNull();
  });
});
