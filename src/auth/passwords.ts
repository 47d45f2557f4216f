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
  if (stored.password !== undefined) return equalSecrets(candidate, stored.password);
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

/**
 * Compares two secrets in time that depends on neither where they differ nor their lengths: both are
 * hashed to 32 bytes first (a byte-wise compare would stop early on a length difference).
 */
export async function equalSecrets(candidate: string, expected: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [a, b] = await Promise.all(
    [candidate, expected].map(
      async (value) => new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(value))),
    ),
  );
  return a !== undefined && b !== undefined && timingSafeEqual(a, b);
}

/** PBKDF2 iterations of a stored hash; 0 for a plain password. */
export function hashCost(stored: { password?: string; hash?: string }): number {
  return Number(HASH_FORM.exec(stored.hash ?? "")?.[1] ?? 0);
}

/**
 * A stored secret no password matches, costing `iterations` like a real hash (plain when 0): checked
 * for an unknown user name, so that answers as slowly as a wrong password.
 */
export function decoySecret(iterations: number): { password?: string; hash?: string } {
  const random = (length: number) =>
    btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(length))));
  if (iterations <= 0) return { password: random(24) };
  return { hash: `pbkdf2-sha256$${iterations}$${random(16)}$${random(32)}` };
}

function fromBase64(value: string): Uint8Array {
  return Uint8Array.from(atob(value), (char) => char.charCodeAt(0));
}
