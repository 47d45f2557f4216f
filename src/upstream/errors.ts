import { type ErrorCode, RegistryError } from "../oci/errors";
import { readLimited } from "../util/streams";

/** What was asked of the upstream, so a 404 becomes the right OCI code. */
export type UpstreamObject = "manifest" | "blob" | "tags" | "referrers";

const NOT_FOUND: Record<UpstreamObject, ErrorCode> = {
  manifest: "MANIFEST_UNKNOWN",
  blob: "BLOB_UNKNOWN",
  tags: "NAME_UNKNOWN",
  referrers: "MANIFEST_UNKNOWN",
};

const DEFAULT_RETRY_AFTER_SECONDS = "60";

export interface UpstreamContext {
  readonly upstream: string;
  readonly name: string;
  readonly object: UpstreamObject;
  /** Whether the mirror holds credentials for this upstream (changes what a 401 means). */
  readonly authenticated: boolean;
}

/**
 * The one place that turns an upstream's failure into the client's error. Messages name the upstream
 * and the repository only: no upstream body, header or credential is passed on.
 */
export async function upstreamError(response: Response, context: UpstreamContext): Promise<RegistryError> {
  const code = await upstreamCode(response);
  const where = `upstream "${context.upstream}", repository "${context.name}"`;
  switch (response.status) {
    case 404:
      return new RegistryError(
        404,
        code === "NAME_UNKNOWN" ? "NAME_UNKNOWN" : NOT_FOUND[context.object],
        `${context.object} not found at ${where}`,
      );
    case 401:
      // Without the upstream's challenge (it names the upstream's realm); the HTTP layer gives the
      // client the mirror's own challenge or 403 DENIED (http/auth.ts `forClient`).
      return new RegistryError(
        401,
        "UNAUTHORIZED",
        context.authenticated
          ? `${where} refused the mirror's credentials`
          : `${where} requires authentication and the mirror has no credentials for it`,
      );
    case 403:
      return new RegistryError(403, "DENIED", `${where} denied access`);
    case 429:
      return new RegistryError(429, "TOOMANYREQUESTS", `${where}: too many requests`, {
        "Retry-After": retryAfter(response.headers.get("Retry-After")),
      });
    case 416:
      return new RegistryError(416, "RANGE_INVALID", "requested range is not satisfiable", {
        ...(response.headers.get("Content-Range")
          ? { "Content-Range": response.headers.get("Content-Range") ?? "" }
          : {}),
      });
    default:
      return new RegistryError(502, "UNAVAILABLE", `${where} answered ${response.status}`);
  }
}

export function unreachable(upstream: string): RegistryError {
  return new RegistryError(502, "UNAVAILABLE", `upstream "${upstream}" is unreachable`);
}

/** Passes a numeric `Retry-After` (or an HTTP date) on; anything else becomes a safe default. */
function retryAfter(value: string | null): string {
  if (value && (/^\d{1,7}$/.test(value.trim()) || !Number.isNaN(Date.parse(value)))) return value.trim();
  return DEFAULT_RETRY_AFTER_SECONDS;
}

/** The first OCI error code of an upstream error body, if it has one. The body is small; read at most 64 KiB. */
async function upstreamCode(response: Response): Promise<string | undefined> {
  if (!response.body || !(response.headers.get("Content-Type") ?? "").includes("json")) {
    await response.body?.cancel();
    return undefined;
  }
  try {
    const text = new TextDecoder().decode(await readLimited(response.body, 64 * 1024));
    const parsed: unknown = JSON.parse(text);
    const errors = (parsed as { errors?: Array<{ code?: unknown }> } | null)?.errors;
    const code = Array.isArray(errors) ? errors[0]?.code : undefined;
    return typeof code === "string" ? code : undefined;
  } catch {
    return undefined;
  }
}
