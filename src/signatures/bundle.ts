import { base64Bytes } from "./public-keys";
import { readJson } from "./simple-signing";

/** The media type of a sigstore bundle as cosign v3 attaches it to an image (a referrer's artifactType and layer). */
export const BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";

/** What a sigstore bundle signs, read from its JSON form. */
export type BundleContent =
  | {
      readonly kind: "dsse";
      readonly payloadType: string;
      readonly payload: Uint8Array;
      readonly signatures: readonly Uint8Array[];
      /** Signed with a Fulcio certificate (keyless) rather than a key. */
      readonly keyless: boolean;
    }
  | {
      readonly kind: "message";
      /** `sha256:<hex>` of the signed message. */
      readonly digest: string | null;
      readonly signature: Uint8Array;
      readonly keyless: boolean;
    };

/** Reads a bundle (v0.1 to v0.3); null when it is not one or its fields do not decode. */
export function parseBundle(bytes: Uint8Array): BundleContent | null {
  const bundle = readJson(bytes) as {
    mediaType?: unknown;
    verificationMaterial?: Record<string, unknown>;
    dsseEnvelope?: { payload?: unknown; payloadType?: unknown; signatures?: unknown };
    messageSignature?: {
      messageDigest?: { algorithm?: unknown; digest?: unknown };
      signature?: unknown;
    };
  } | null;
  if (
    !bundle ||
    typeof bundle.mediaType !== "string" ||
    !bundle.mediaType.startsWith("application/vnd.dev.sigstore.bundle")
  ) {
    return null;
  }
  const material = bundle.verificationMaterial ?? {};
  const keyless = "certificate" in material || "x509CertificateChain" in material;
  try {
    const envelope = bundle.dsseEnvelope;
    if (envelope) {
      if (typeof envelope.payload !== "string" || typeof envelope.payloadType !== "string") return null;
      const signatures = Array.isArray(envelope.signatures) ? envelope.signatures : [];
      return {
        kind: "dsse",
        payloadType: envelope.payloadType,
        payload: base64Bytes(envelope.payload),
        signatures: signatures.flatMap((entry: { sig?: unknown } | null) =>
          typeof entry?.sig === "string" ? [base64Bytes(entry.sig)] : [],
        ),
        keyless,
      };
    }
    const message = bundle.messageSignature;
    if (message && typeof message.signature === "string") {
      const { algorithm, digest } = message.messageDigest ?? {};
      return {
        kind: "message",
        digest:
          algorithm === "SHA2_256" && typeof digest === "string"
            ? `sha256:${hex(base64Bytes(digest))}`
            : null,
        signature: base64Bytes(message.signature),
        keyless,
      };
    }
  } catch {
    return null;
  }
  return null;
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}
