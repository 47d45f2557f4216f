import { SCRIPT } from "./script";
import { CSS } from "./styles";

let policy: Promise<string> | null = null;

/**
 * The landing page's Content-Security-Policy: its one inline style and one inline script by their
 * SHA-256 (nothing else runs, not even an injected `<script>`), requests to its own origin only (the
 * stats), no frames, no forms, no base URL. The page is where an operator types the admin token.
 */
export function landingPolicy(): Promise<string> {
  policy ??= Promise.all([hashSource(SCRIPT), hashSource(CSS)]).then(([script, style]) =>
    [
      "default-src 'none'",
      `script-src '${script}'`,
      `style-src '${style}'`,
      "connect-src 'self'",
      "img-src 'self' data:",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
  );
  return policy;
}

async function hashSource(source: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(source)));
  return `sha256-${btoa(String.fromCharCode(...digest))}`;
}
