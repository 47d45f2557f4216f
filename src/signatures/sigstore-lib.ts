// sigstore's verifier, loaded on first use only (see keyless.ts): @sigstore/verify and its protobuf
// types are ~200 KiB of modules whose evaluation a mirror without keyless identities never pays.
// workerd's node:crypto gets Node's default digest first, which the library relies on.
import "./node-crypto-default-digest";

export { bundleFromJSON } from "@sigstore/bundle";
export { TrustedRoot } from "@sigstore/protobuf-specs";
export { toSignedEntity, toTrustMaterial, Verifier } from "@sigstore/verify";
