import crypto from "node:crypto";

/**
 * workerd's `node:crypto` refuses `verify(null, data, key, signature)` for an ECDSA or RSA key
 * ("Failed to initialize verification context"), where Node picks the key type's default digest,
 * SHA-256. @sigstore/verify relies on Node's default for Rekor's signed entry timestamps and
 * checkpoints, so every keyless signature would fail to verify. This gives workerd Node's documented
 * behaviour for exactly that case (no digest named, an EC or RSA key) and changes nothing else.
 */
const verify = crypto.verify;
if (!(verify as { withDefaultDigest?: boolean }).withDefaultDigest) {
  const withDefaultDigest = ((algorithm, data, key, signature, callback) => {
    const type = keyType(key);
    const digest = algorithm ?? (type === "ec" || type === "rsa" ? "sha256" : algorithm);
    return callback ? verify(digest, data, key, signature, callback) : verify(digest, data, key, signature);
  }) as typeof crypto.verify;
  Object.assign(withDefaultDigest, { withDefaultDigest: true });
  crypto.verify = withDefaultDigest;
}

function keyType(key: unknown): string | undefined {
  if (key instanceof crypto.KeyObject) return key.asymmetricKeyType;
  return undefined;
}
