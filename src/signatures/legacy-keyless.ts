import { base64Bytes } from "./public-keys";
import { readJson } from "./simple-signing";

/** The `.sig` layer annotations cosign v2 writes for a keyless signature, beside the signature's own. */
export const CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate";
export const CHAIN_ANNOTATION = "dev.sigstore.cosign/chain";
export const REKOR_BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle";

/** What makes a legacy signature keyless: its Fulcio certificate and Rekor entry, as annotated. */
export interface LegacyKeylessMaterial {
  /** The leaf certificate, PEM. */
  readonly certificate: string;
  /** Intermediates and root, PEM; null when not annotated. */
  readonly chain: string | null;
  /** cosign's Rekor bundle: `{SignedEntryTimestamp, Payload: {body, integratedTime, logIndex, logID}}`. */
  readonly rekorBundle: string;
}

/** The keyless material among a `.sig` layer's annotations, or null when it carries no certificate. */
export function legacyKeylessMaterial(annotations: Record<string, unknown>): LegacyKeylessMaterial | null {
  const certificate = annotations[CERTIFICATE_ANNOTATION];
  const rekorBundle = annotations[REKOR_BUNDLE_ANNOTATION];
  const chain = annotations[CHAIN_ANNOTATION];
  if (typeof certificate !== "string" || certificate === "") return null;
  return {
    certificate,
    chain: typeof chain === "string" && chain !== "" ? chain : null,
    rekorBundle: typeof rekorBundle === "string" ? rekorBundle : "",
  };
}

/**
 * The sigstore bundle (v0.1, SET only) a cosign v2 keyless signature stands for — as cosign itself
 * assembles it to verify — so @sigstore/verify can check it over the payload: the certificate chain,
 * the one Rekor entry with its signed entry timestamp and canonical body, and the message signature.
 * Null when the annotations do not read as one; nothing here is trusted until verified.
 */
export async function legacyKeylessBundle(
  payload: Uint8Array,
  signature: Uint8Array,
  material: LegacyKeylessMaterial,
): Promise<object | null> {
  const certificates = [material.certificate, material.chain ?? ""].flatMap(pemCertificates);
  const rekor = readJson(new TextEncoder().encode(material.rekorBundle)) as {
    SignedEntryTimestamp?: unknown;
    Payload?: { body?: unknown; integratedTime?: unknown; logIndex?: unknown; logID?: unknown };
  } | null;
  const entry = rekor?.Payload;
  if (
    certificates.length === 0 ||
    typeof rekor?.SignedEntryTimestamp !== "string" ||
    typeof entry?.body !== "string" ||
    !Number.isSafeInteger(entry.integratedTime) ||
    !Number.isSafeInteger(entry.logIndex) ||
    typeof entry.logID !== "string" ||
    !/^(?:[0-9a-f]{2})+$/.test(entry.logID)
  ) {
    return null;
  }
  let kind: { kind?: unknown; apiVersion?: unknown } | null;
  try {
    kind = readJson(base64Bytes(entry.body)) as typeof kind;
  } catch {
    return null;
  }
  if (typeof kind?.kind !== "string" || typeof kind.apiVersion !== "string") return null;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", payload));
  return {
    mediaType: "application/vnd.dev.sigstore.bundle+json;version=0.1",
    verificationMaterial: {
      x509CertificateChain: { certificates: certificates.map((rawBytes) => ({ rawBytes })) },
      tlogEntries: [
        {
          logIndex: String(entry.logIndex),
          logId: { keyId: base64(hexBytes(entry.logID)) },
          kindVersion: { kind: kind.kind, version: kind.apiVersion },
          integratedTime: String(entry.integratedTime),
          inclusionPromise: { signedEntryTimestamp: rekor.SignedEntryTimestamp },
          canonicalizedBody: entry.body,
        },
      ],
    },
    messageSignature: {
      messageDigest: { algorithm: "SHA2_256", digest: base64(digest) },
      signature: base64(signature),
    },
  };
}

/** The certificates of a PEM text, each as base64 DER; unreadable blocks are dropped. */
function pemCertificates(pem: string): string[] {
  const blocks = pem.matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/g);
  return [...blocks].flatMap(([, body = ""]) => {
    const der = body.replace(/\s+/g, "");
    try {
      base64Bytes(der);
      return [der];
    } catch {
      return [];
    }
  });
}

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
