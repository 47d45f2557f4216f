import { timingSafeEqual } from "../util/bytes";

/**
 * Client passwords, in plain text or as a salted PBKDF2 hash:
 * `pbkdf2-sha256$<iterations>$<salt, base64>$<hash, base64>` (see scripts/hash-password.mjs).
 */
const HASH_FORM = /^pbkdf2-sha256\$(\d{4,7})\$([A-Za-z0-9+/=]{8,})\$([A-Za-z0-9+/=]{40,})$/;

export function isPasswordHash(value: string): boolean {
  return HASH_FORM.test(value);
}

export async function verifyPassword(
  candidate: string,
  stored: { password?: string; hash?: string },
): Promise<boolean> {
  const encoder = new TextEncoder();
  if (stored.password !== undefined)
    return timingSafeEqual(encoder.encode(candidate), encoder.encode(stored.password));
  const match = HASH_FORM.exec(stored.hash ?? "");
  if (!match) return false;
  const [, iterations = "0", salt = "", expected = ""] = match;
  const key = await crypto.subtle.importKey("raw", encoder.encode(candidate), "PBKDF2", false, [
    "deriveBits",
  ]);
  const expectedBytes = fromBase64(expected);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: fromBase64(salt), iterations: Number(iterations) },
    key,
    expectedBytes.byteLength * 8,
  );
  return timingSafeEqual(new Uint8Array(bits), expectedBytes);
}

function fromBase64(value: string): Uint8Array {
  return Uint8Array.from(atob(value), (char) => char.charCodeAt(0));
}
