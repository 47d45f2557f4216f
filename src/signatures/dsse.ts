import { readJson } from "./simple-signing";

/** The payload type of an in-toto statement in a DSSE envelope. */
export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";

/**
 * DSSE's pre-authentication encoding, what an envelope's signatures sign:
 * `"DSSEv1" SP len(type) SP type SP len(body) SP body`, lengths in ASCII decimal bytes.
 */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Uint8Array {
  const encoder = new TextEncoder();
  const type = encoder.encode(payloadType);
  const head = encoder.encode(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `);
  const message = new Uint8Array(head.length + payload.length);
  message.set(head);
  message.set(payload, head.length);
  return message;
}

/** The `sha256:<hex>` digests an in-toto statement's subjects name (v0.1 and v1 statements). */
export function statementDigests(payload: Uint8Array): string[] {
  const statement = readJson(payload) as { _type?: unknown; subject?: unknown } | null;
  if (
    !statement ||
    (statement._type !== "https://in-toto.io/Statement/v1" &&
      statement._type !== "https://in-toto.io/Statement/v0.1") ||
    !Array.isArray(statement.subject)
  ) {
    return [];
  }
  return statement.subject.flatMap((subject: { digest?: Record<string, unknown> } | null) => {
    const hex = subject?.digest?.sha256;
    return typeof hex === "string" && /^[a-f0-9]{64}$/.test(hex) ? [`sha256:${hex}`] : [];
  });
}
