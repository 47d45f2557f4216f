/**
 * Just enough DER (X.690) to read a SubjectPublicKeyInfo's algorithm and an ECDSA signature: a TLV
 * reader with definite lengths. Anything else (indefinite length, lengths beyond 4 bytes) is refused.
 */
export interface Tlv {
  readonly tag: number;
  /** The value's bytes (a view into the input). */
  readonly value: Uint8Array;
  /** Offset just past this element. */
  readonly end: number;
}

export class DerError extends Error {
  override name = "DerError";
}

/** Reads the element starting at `offset`. */
export function readTlv(bytes: Uint8Array, offset = 0): Tlv {
  const tag = bytes[offset];
  const first = bytes[offset + 1];
  if (tag === undefined || first === undefined) throw new DerError("truncated element");
  let length = first;
  let start = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw new DerError("unsupported length");
    length = 0;
    for (let index = 0; index < count; index++) {
      const byte = bytes[start + index];
      if (byte === undefined) throw new DerError("truncated length");
      length = length * 256 + byte;
    }
    start += count;
  }
  const end = start + length;
  if (end > bytes.length) throw new DerError("element longer than its input");
  return { tag, value: bytes.subarray(start, end), end };
}

/** The elements of a constructed value (a SEQUENCE's contents), in order. */
export function readChildren(value: Uint8Array): Tlv[] {
  const children: Tlv[] = [];
  let offset = 0;
  while (offset < value.length) {
    const child = readTlv(value, offset);
    children.push(child);
    offset = child.end;
  }
  return children;
}

/** An OBJECT IDENTIFIER's value in dotted form. */
export function oidString(value: Uint8Array): string {
  const first = value[0];
  if (first === undefined) throw new DerError("empty object identifier");
  const parts = [Math.floor(first / 40), first % 40];
  let current = 0;
  for (const byte of value.subarray(1)) {
    current = current * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(current);
      current = 0;
    }
  }
  return parts.join(".");
}

export const TAG = { INTEGER: 0x02, BIT_STRING: 0x03, OID: 0x06, SEQUENCE: 0x30 } as const;

/**
 * An ECDSA signature as DER `SEQUENCE { r INTEGER, s INTEGER }` (what cosign and OpenSSL write) to the
 * fixed-width `r || s` WebCrypto verifies; null when it is not such a value or an integer is too wide.
 */
export function ecdsaDerToRaw(signature: Uint8Array, width: number): Uint8Array | null {
  try {
    const sequence = readTlv(signature);
    if (sequence.tag !== TAG.SEQUENCE || sequence.end !== signature.length) return null;
    const parts = readChildren(sequence.value);
    if (parts.length !== 2) return null;
    const raw = new Uint8Array(width * 2);
    for (const [index, part] of parts.entries()) {
      if (part.tag !== TAG.INTEGER) return null;
      // A leading zero keeps a positive integer's top bit clear; it is not part of the number.
      let number = part.value;
      while (number.length > 1 && number[0] === 0) number = number.subarray(1);
      if (number.length > width) return null;
      raw.set(number, index * width + (width - number.length));
    }
    return raw;
  } catch (error) {
    if (error instanceof DerError) return null;
    throw error;
  }
}
