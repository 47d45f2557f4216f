import { toHex } from "../oci/digest";

/** HMAC-SHA-256 of `body` keyed with `secret`, as lower-case hex (GitHub's `X-Hub-Signature-256`). */
export async function hmacSha256Hex(secret: string, body: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return toHex(await crypto.subtle.sign("HMAC", key, encoder.encode(body)));
}
