import { describe, expect, it } from "vitest";
import {
  compileIdentityGlob,
  type SigstoreTrust,
  sigstoreTrust,
  TrustedRootError,
} from "../../src/signatures/keyless";
import { legacyKeylessMaterial } from "../../src/signatures/legacy-keyless";
import { base64Bytes, type PublicKey, parsePublicKey } from "../../src/signatures/public-keys";
import { PUBLIC_GOOD_ROOT as publicGoodRoot } from "../../src/signatures/sigstore-public-good-root";
import { judge, type SignatureCandidate, type Signers } from "../../src/signatures/verdict";
import { generateKey, type KeyKind, makeBundle, simpleSigningPayload } from "../support/cosign";
import { sha256 } from "../support/fake-registry";
import keyless from "./keyless-fixtures.json";

const keysOnly = (...keys: PublicKey[]): Signers => ({ keys, identities: [], sigstore: null });
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
    const verdict = await judge(digest, manifest, keysOnly(parsePublicKey(pem)), [candidate]);
    expect(verdict).toEqual({ verified: true, form: "legacy", signer: "key 0" });
  });

  it("names the key that verified among several", async () => {
    const digest = await sha256(manifest);
    const { candidate, pem } = await legacy("ed25519", digest);
    const unrelated = parsePublicKey((await generateKey("ecdsa-p256")).pem);
    const verdict = await judge(digest, manifest, keysOnly(unrelated, parsePublicKey(pem)), [candidate]);
    expect(verdict).toEqual({ verified: true, form: "legacy", signer: "key 1" });
  });

  it("refuses a signature by another key: wrong key", async () => {
    const digest = await sha256(manifest);
    const { candidate } = await legacy("ecdsa-p256", digest);
    const policyKey = parsePublicKey((await generateKey("ecdsa-p256")).pem);
    expect(await judge(digest, manifest, keysOnly(policyKey), [candidate])).toEqual({
      verified: false,
      shortfall: "wrong key",
    });
  });

  it("refuses a good signature whose payload names another digest", async () => {
    const digest = await sha256(manifest);
    const { candidate, pem } = await legacy("ecdsa-p256", other);
    expect(await judge(digest, manifest, keysOnly(parsePublicKey(pem)), [candidate])).toEqual({
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
    expect(await judge(digest, manifest, keysOnly(parsePublicKey(key.pem)), [candidate])).toEqual({
      verified: false,
      shortfall: "wrong key",
    });
  });

  it("says so when there is no signature at all", async () => {
    const key = parsePublicKey((await generateKey("ed25519")).pem);
    expect(await judge(await sha256(manifest), manifest, keysOnly(key), [])).toEqual({
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
    const verdict = await judge(digest, manifest, keysOnly(parsePublicKey(key.pem)), [
      { form: "bundle", bundle },
    ]);
    expect(verdict).toEqual({ verified: true, form: "bundle", signer: "key 0" });
  });

  it.each(KINDS)("verifies a %s message-signature bundle over the manifest", async (kind) => {
    const digest = await sha256(manifest);
    const key = await generateKey(kind);
    const bundle = await makeBundle(digest, key, { form: "message", manifest });
    const verdict = await judge(digest, manifest, keysOnly(parsePublicKey(key.pem)), [
      { form: "bundle", bundle },
    ]);
    expect(verdict).toEqual({ verified: true, form: "bundle", signer: "key 0" });
  });

  it("refuses a DSSE bundle whose statement names another digest", async () => {
    const digest = await sha256(manifest);
    const key = await generateKey("ecdsa-p256");
    const bundle = await makeBundle(digest, key, { names: other });
    expect(
      await judge(digest, manifest, keysOnly(parsePublicKey(key.pem)), [{ form: "bundle", bundle }]),
    ).toEqual({
      verified: false,
      shortfall: "signature names another digest",
    });
  });

  it("refuses a message signature over other bytes", async () => {
    const digest = await sha256(manifest);
    const key = await generateKey("ed25519");
    const bundle = await makeBundle(digest, key, { form: "message", manifest: new Uint8Array([1, 2, 3]) });
    expect(
      await judge(digest, manifest, keysOnly(parsePublicKey(key.pem)), [{ form: "bundle", bundle }]),
    ).toEqual({
      verified: false,
      shortfall: "wrong key",
    });
  });

  it("refuses a bundle by another key", async () => {
    const digest = await sha256(manifest);
    const bundle = await makeBundle(digest, await generateKey("rsa"));
    const policyKey = parsePublicKey((await generateKey("rsa")).pem);
    expect(await judge(digest, manifest, keysOnly(policyKey), [{ form: "bundle", bundle }])).toEqual({
      verified: false,
      shortfall: "wrong key",
    });
  });

  it("tells a keyless bundle apart: its identity is not verified here", async () => {
    const digest = await sha256(manifest);
    const bundle = await makeBundle(digest, await generateKey("ecdsa-p256"), { keyless: true });
    const policyKey = parsePublicKey((await generateKey("ecdsa-p256")).pem);
    expect(await judge(digest, manifest, keysOnly(policyKey), [{ form: "bundle", bundle }])).toEqual({
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
    expect(await judge(digest, manifest, keysOnly(parsePublicKey(key.pem)), candidates)).toMatchObject({
      verified: true,
    });
  });
});

describe("judge: keyless sigstore bundles (Fulcio certificate, Rekor entry), verified with @sigstore/verify", () => {
  // Made by make-keyless-fixtures.mjs with @sigstore/mock's CA, CT log and Rekor log, and checked there
  // with @sigstore/verify in Node; the trusted root names that CA and those logs.
  const trust = sigstoreTrust(keyless.roots.trusted);
  const manifestBytes = new TextEncoder().encode(keyless.image.manifest);
  const identity = (issuer: string, subject: string) => ({
    issuer,
    subject,
    issuerPattern: compileIdentityGlob(issuer),
    subjectPattern: compileIdentityGlob(subject),
  });
  const acme = identity(keyless.issuer, "https://github.com/acme/*/.github/workflows/*@refs/heads/main");
  const signers = (identities = [acme], sigstore: SigstoreTrust | null = trust): Signers => ({
    keys: [],
    identities,
    sigstore,
  });
  const candidate = (name: keyof typeof keyless.bundles): SignatureCandidate => ({
    form: "bundle",
    bundle: new TextEncoder().encode(JSON.stringify(keyless.bundles[name])),
  });

  it("verifies a DSSE bundle by an identity of the policy whose statement names the digest", async () => {
    expect(await judge(keyless.image.digest, manifestBytes, signers(), [candidate("dsse")])).toEqual({
      verified: true,
      form: "bundle",
      signer: `${keyless.subject} (${keyless.issuer})`,
    });
  });

  it("verifies a keyless message signature over the manifest", async () => {
    expect(await judge(keyless.image.digest, manifestBytes, signers(), [candidate("message")])).toMatchObject(
      {
        verified: true,
      },
    );
  });

  it("refuses a signer the identities do not name: wrong identity", async () => {
    const other = identity(keyless.issuer, "https://github.com/other/**");
    for (const [policy, bundle] of [
      [signers([other]), candidate("dsse")],
      [signers(), candidate("otherSubject")],
      [signers([identity("https://accounts.google.com", "**")]), candidate("dsse")],
    ] as const) {
      expect(await judge(keyless.image.digest, manifestBytes, policy, [bundle])).toEqual({
        verified: false,
        shortfall: "wrong identity",
      });
    }
  });

  it("refuses a bundle of another sigstore instance, or changed after signing", async () => {
    for (const name of ["untrusted", "tampered"] as const) {
      expect(await judge(keyless.image.digest, manifestBytes, signers(), [candidate(name)])).toEqual({
        verified: false,
        shortfall: "keyless signature",
      });
    }
  });

  it("refuses a valid keyless statement about another digest", async () => {
    expect(await judge(keyless.image.digest, manifestBytes, signers(), [candidate("otherDigest")])).toEqual({
      verified: false,
      shortfall: "signature names another digest",
    });
  });

  it("does not verify keyless signatures for an entry without identities", async () => {
    expect(await judge(keyless.image.digest, manifestBytes, signers([], null), [candidate("dsse")])).toEqual({
      verified: false,
      shortfall: "keyless signature",
    });
  });

  // cosign v2's keyless form: a `.sig` payload whose layer annotations carry the signature, the Fulcio
  // certificate and chain, and the Rekor entry with its signed entry timestamp.
  const legacyKeyless = (
    name: keyof typeof keyless.legacy,
    payload = keyless.legacy[name].payload,
  ): Extract<SignatureCandidate, { form: "legacy" }> => {
    const annotations: Record<string, string> = keyless.legacy[name].annotations;
    return {
      form: "legacy",
      payload: new TextEncoder().encode(payload),
      signature: base64Bytes(annotations["dev.cosignproject.cosign/signature"] ?? ""),
      keyless: legacyKeylessMaterial(annotations),
    };
  };

  it("verifies cosign's legacy keyless signature (certificate and Rekor bundle annotations)", async () => {
    expect(await judge(keyless.image.digest, manifestBytes, signers(), [legacyKeyless("signed")])).toEqual({
      verified: true,
      form: "legacy",
      signer: `${keyless.subject} (${keyless.issuer})`,
    });
  });

  it("refuses a legacy keyless signature by an identity the policy does not name", async () => {
    const other = identity(keyless.issuer, "https://github.com/other/**");
    expect(
      await judge(keyless.image.digest, manifestBytes, signers([other]), [legacyKeyless("signed")]),
    ).toEqual({ verified: false, shortfall: "wrong identity" });
  });

  it("refuses a legacy keyless payload changed after signing, or whose Rekor entry is another's", async () => {
    const signed = keyless.legacy.signed;
    const changed = signed.payload.replace(keyless.image.digest.slice(7), "2".repeat(64));
    const foreignEntry: SignatureCandidate = {
      ...legacyKeyless("signed"),
      keyless: legacyKeylessMaterial({
        ...signed.annotations,
        "dev.sigstore.cosign/bundle": keyless.legacy.otherDigest.annotations["dev.sigstore.cosign/bundle"],
      }),
    };
    for (const candidate of [legacyKeyless("signed", changed), foreignEntry]) {
      expect(await judge(keyless.image.digest, manifestBytes, signers(), [candidate])).toEqual({
        verified: false,
        shortfall: "keyless signature",
      });
    }
  });

  it("refuses a legacy keyless signature that does not chain to the trusted root", async () => {
    const stranger = sigstoreTrust(keyless.roots.stranger);
    expect(
      await judge(keyless.image.digest, manifestBytes, signers([acme], stranger), [legacyKeyless("signed")]),
    ).toEqual({ verified: false, shortfall: "keyless signature" });
  });

  it("refuses a valid legacy keyless signature whose payload names another digest", async () => {
    expect(
      await judge(keyless.image.digest, manifestBytes, signers(), [legacyKeyless("otherDigest")]),
    ).toEqual({ verified: false, shortfall: "signature names another digest" });
  });

  it("does not take a legacy keyless signature for a key's under an entry without identities", async () => {
    const key = parsePublicKey((await generateKey("ecdsa-p256")).pem);
    expect(
      await judge(keyless.image.digest, manifestBytes, keysOnly(key), [legacyKeyless("signed")]),
    ).toEqual({ verified: false, shortfall: "keyless signature" });
  });

  it("accepts the sigstore public-good trusted root shipped with the mirror", async () => {
    await expect(sigstoreTrust(publicGoodRoot).verifier()).resolves.toBeDefined();
    expect(() => sigstoreTrust({ mediaType: "x" })).toThrow(TrustedRootError);
  });
});

describe("compileIdentityGlob", () => {
  it("matches * within a path segment and ** across", () => {
    const one = compileIdentityGlob("https://github.com/acme/*/.github/workflows/*@refs/heads/main");
    expect(one.test("https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main")).toBe(true);
    expect(one.test("https://github.com/acme/a/b/.github/workflows/release.yml@refs/heads/main")).toBe(false);
    expect(one.test("https://github.com/acme-evil/app/.github/workflows/x.yml@refs/heads/main")).toBe(false);
    expect(
      compileIdentityGlob("https://github.com/acme/**").test("https://github.com/acme/a/b@refs/tags/v1"),
    ).toBe(true);
    // Regular-expression characters are literal.
    expect(compileIdentityGlob("https://x.io/a+b").test("https://x.io/aab")).toBe(false);
  });
});
