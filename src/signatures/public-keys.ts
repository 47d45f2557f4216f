import { DerError, ecdsaDerToRaw, oidString, readChildren, readTlv, TAG } from "./der";

/** The key types cosign signs with: `cosign generate-key-pair` (ECDSA P-256), RSA and Ed25519 keys. */
export type KeyKind = "ecdsa-p256" | "rsa" | "ed25519";

/** A configured public key, read from its PEM: enough to verify with WebCrypto. */
export interface PublicKey {
  readonly kind: KeyKind;
  /** The DER SubjectPublicKeyInfo. */
  readonly spki: Uint8Array;
}

const OID = {
  EC_PUBLIC_KEY: "1.2.840.10045.2.1",
  P256: "1.2.840.10045.3.1.7",
  RSA: "1.2.840.113549.1.1.1",
  ED25519: "1.3.101.112",
} as const;

/** Why a PEM is not a key the mirror verifies with; a message for the configuration error. */
export class KeyFormatError extends Error {
  override name = "KeyFormatError";
}

/**
 * Reads a `-----BEGIN PUBLIC KEY-----` PEM (SubjectPublicKeyInfo) and tells its kind from the
 * algorithm identifier, synchronously, so a bad key fails the configuration at once.
 */
export function parsePublicKey(pem: string): PublicKey {
  const match = /^\s*-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----\s*$/.exec(pem);
  if (!match?.[1]) throw new KeyFormatError("must be a PEM public key (-----BEGIN PUBLIC KEY-----)");
  let spki: Uint8Array;
  try {
    spki = base64Bytes(match[1].replace(/\s+/g, ""));
  } catch {
    throw new KeyFormatError("the PEM's base64 does not decode");
  }
  return { kind: keyKind(spki), spki };
}

function keyKind(spki: Uint8Array): KeyKind {
  try {
    const info = readTlv(spki);
    if (info.tag !== TAG.SEQUENCE || info.end !== spki.length) throw new DerError("not a sequence");
    const [algorithm] = readChildren(info.value);
    if (algorithm?.tag !== TAG.SEQUENCE) throw new DerError("no algorithm identifier");
    const [oid, parameter] = readChildren(algorithm.value);
    if (oid?.tag !== TAG.OID) throw new DerError("no algorithm");
    const name = oidString(oid.value);
    if (name === OID.RSA) return "rsa";
    if (name === OID.ED25519) return "ed25519";
    if (name === OID.EC_PUBLIC_KEY) {
      if (parameter?.tag === TAG.OID && oidString(parameter.value) === OID.P256) return "ecdsa-p256";
      throw new KeyFormatError("an ECDSA key must be on the P-256 curve (cosign generate-key-pair)");
    }
  } catch (error) {
    if (error instanceof DerError) throw new KeyFormatError("is not a DER SubjectPublicKeyInfo");
    throw error;
  }
  throw new KeyFormatError("must be an ECDSA P-256, RSA or Ed25519 public key");
}

const imported = new WeakMap<PublicKey, Promise<CryptoKey>>();

/** The WebCrypto key, imported once per configured key. */
function cryptoKey(key: PublicKey): Promise<CryptoKey> {
  let found = imported.get(key);
  if (!found) {
    found = crypto.subtle.importKey("spki", key.spki, importAlgorithm(key.kind), false, ["verify"]);
    imported.set(key, found);
  }
  return found;
}

function importAlgorithm(kind: KeyKind): { name: string; namedCurve?: string; hash?: string } {
  switch (kind) {
    case "ecdsa-p256":
      return { name: "ECDSA", namedCurve: "P-256" };
    case "rsa":
      return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    case "ed25519":
      return { name: "Ed25519" };
  }
}

/**
 * Whether `signature` is the key's signature over `message`, as cosign and sigstore make them: ECDSA
 * over SHA-256 with a DER signature, RSA PKCS#1 v1.5 over SHA-256, Ed25519 over the message itself.
 * Malformed signatures are simply not valid.
 */
export async function verifySignature(
  key: PublicKey,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  const webKey = await cryptoKey(key);
  switch (key.kind) {
    case "ecdsa-p256": {
      const raw = ecdsaDerToRaw(signature, 32);
      return raw !== null && crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, webKey, raw, message);
    }
    case "rsa":
      return crypto.subtle.verify({ name: "RSASSA-PKCS1-v1_5" }, webKey, signature, message);
    case "ed25519":
      return crypto.subtle.verify({ name: "Ed25519" }, webKey, signature, message);
  }
}

/** Strict base64 (standard alphabet, padding optional); throws on anything else. */
export function base64Bytes(text: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new Error("not base64");
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
  return bytes;
}
