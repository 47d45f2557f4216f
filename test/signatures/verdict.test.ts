import { describe, expect, it } from "vitest";
import { parsePublicKey } from "../../src/signatures/public-keys";
import { judge, type SignatureCandidate } from "../../src/signatures/verdict";
import { generateKey, type KeyKind, makeBundle, simpleSigningPayload } from "../support/cosign";
import { sha256 } from "../support/fake-registry";

const KINDS: readonly KeyKind[] = ["ecdsa-p256", "rsa", "ed25519"];
const manifest = new TextEncoder().encode('{"schemaVersion":2,"layers":[]}');
const other = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

async function legacy(
  kind: KeyKind,
  digest: string,
): Promise<{ candidate: SignatureCandidate; pem: string }> {
  const key = await generateKey(kind);
  const payload = simpleSigningPayload(digest);
  return { candidate: { form: "legacy", payload, signature: await key.sign(payload) }, pem: key.pem };
}

describe("judge: cosign's legacy signatures", () => {
  it.each(KINDS)("verifies a %s signature whose payload names the digest", async (kind) => {
    const digest = await sha256(manifest);
    const { candidate, pem } = await legacy(kind, digest);
    const verdict = await judge(digest, manifest, [parsePublicKey(pem)], [candidate]);
    expect(verdict).toEqual({ verified: true, form: "legacy", key: 0 });
  });

  it("names the key that verified among several", async () => {
    const digest = await sha256(manifest);
    const { candidate, pem } = await legacy("ed25519", digest);
    const unrelated = parsePublicKey((await generateKey("ecdsa-p256")).pem);
    const verdict = await judge(digest, manifest, [unrelated, parsePublicKey(pem)], [candidate]);
    expect(verdict).toEqual({ verified: true, form: "legacy", key: 1 });
  });

  it("refuses a signature by another key: wrong key", async () => {
    const digest = await sha256(manifest);
    const { candidate } = await legacy("ecdsa-p256", digest);
    const policyKey = parsePublicKey((await generateKey("ecdsa-p256")).pem);
    expect(await judge(digest, manifest, [policyKey], [candidate])).toEqual({
      verified: false,
      shortfall: "wrong key",
    });
  });

  it("refuses a good signature whose payload names another digest", async () => {
    const digest = await sha256(manifest);
    const { candidate, pem } = await legacy("ecdsa-p256", other);
    expect(await judge(digest, manifest, [parsePublicKey(pem)], [candidate])).toEqual({
      verified: false,
      shortfall: "signature names another digest",
    });
  });

  it("refuses a payload changed after signing", async () => {
    const digest = await sha256(manifest);
    const key = await generateKey("rsa");
    const signature = await key.sign(simpleSigningPayload(other));
    const candidate: SignatureCandidate = {
      form: "legacy",
      payload: simpleSigningPayload(digest),
      signature,
    };
    expect(await judge(digest, manifest, [parsePublicKey(key.pem)], [candidate])).toEqual({
      verified: false,
      shortfall: "wrong key",
    });
  });

  it("says so when there is no signature at all", async () => {
    const key = parsePublicKey((await generateKey("ed25519")).pem);
    expect(await judge(await sha256(manifest), manifest, [key], [])).toEqual({
      verified: false,
      shortfall: "no signature",
    });
  });
});

describe("judge: sigstore bundles (cosign v3)", () => {
  it.each(KINDS)("verifies a %s DSSE bundle whose in-toto statement names the digest", async (kind) => {
    const digest = await sha256(manifest);
    const key = await generateKey(kind);
    const bundle = await makeBundle(digest, key);
    const verdict = await judge(digest, manifest, [parsePublicKey(key.pem)], [{ form: "bundle", bundle }]);
    expect(verdict).toEqual({ verified: true, form: "bundle", key: 0 });
  });

  it.each(KINDS)("verifies a %s message-signature bundle over the manifest", async (kind) => {
    const digest = await sha256(manifest);
    const key = await generateKey(kind);
    const bundle = await makeBundle(digest, key, { form: "message", manifest });
    const verdict = await judge(digest, manifest, [parsePublicKey(key.pem)], [{ form: "bundle", bundle }]);
    expect(verdict).toEqual({ verified: true, form: "bundle", key: 0 });
  });

  it("refuses a DSSE bundle whose statement names another digest", async () => {
    const digest = await sha256(manifest);
    const key = await generateKey("ecdsa-p256");
    const bundle = await makeBundle(digest, key, { names: other });
    expect(await judge(digest, manifest, [parsePublicKey(key.pem)], [{ form: "bundle", bundle }])).toEqual({
      verified: false,
      shortfall: "signature names another digest",
    });
  });

  it("refuses a message signature over other bytes", async () => {
    const digest = await sha256(manifest);
    const key = await generateKey("ed25519");
    const bundle = await makeBundle(digest, key, { form: "message", manifest: new Uint8Array([1, 2, 3]) });
    expect(await judge(digest, manifest, [parsePublicKey(key.pem)], [{ form: "bundle", bundle }])).toEqual({
      verified: false,
      shortfall: "wrong key",
    });
  });

  it("refuses a bundle by another key", async () => {
    const digest = await sha256(manifest);
    const bundle = await makeBundle(digest, await generateKey("rsa"));
    const policyKey = parsePublicKey((await generateKey("rsa")).pem);
    expect(await judge(digest, manifest, [policyKey], [{ form: "bundle", bundle }])).toEqual({
      verified: false,
      shortfall: "wrong key",
    });
  });

  it("tells a keyless bundle apart: its identity is not verified here", async () => {
    const digest = await sha256(manifest);
    const bundle = await makeBundle(digest, await generateKey("ecdsa-p256"), { keyless: true });
    const policyKey = parsePublicKey((await generateKey("ecdsa-p256")).pem);
    expect(await judge(digest, manifest, [policyKey], [{ form: "bundle", bundle }])).toEqual({
      verified: false,
      shortfall: "keyless signature",
    });
  });

  it("passes over what is not a bundle, and verifies the good one beside it", async () => {
    const digest = await sha256(manifest);
    const key = await generateKey("ecdsa-p256");
    const candidates: SignatureCandidate[] = [
      { form: "bundle", bundle: new TextEncoder().encode("not json") },
      { form: "bundle", bundle: new TextEncoder().encode('{"mediaType":"x"}') },
      { form: "bundle", bundle: await makeBundle(digest, key) },
    ];
    expect(await judge(digest, manifest, [parsePublicKey(key.pem)], candidates)).toMatchObject({
      verified: true,
    });
  });
});
