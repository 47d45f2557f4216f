import { type ErrorCode, errorBody, RegistryError } from "../oci/errors";

/**
 * How the Worker asks a fill Durable Object for a blob, and how errors come back: as the same OCI
 * error JSON clients get, turned back into a RegistryError on the Worker's side.
 */
export const FillHeaders = {
  upstream: "X-Fill-Upstream",
  name: "X-Fill-Name",
  digest: "X-Fill-Digest",
  size: "X-Fill-Size",
  /** On a 409: the blob is in the store already. */
  stored: "X-Fill-Stored",
} as const;

export function errorToResponse(error: unknown): Response {
  const registryError =
    error instanceof RegistryError
      ? error
      : new RegistryError(502, "UNAVAILABLE", "the blob could not be fetched");
  return new Response(errorBody(registryError), {
    status: registryError.status,
    headers: { ...registryError.headers, "Content-Type": "application/json" },
  });
}

export async function errorFromResponse(response: Response): Promise<RegistryError> {
  let code: ErrorCode = "UNAVAILABLE";
  let message = "the blob could not be fetched";
  try {
    const parsed = (await response.json()) as { errors?: Array<{ code?: ErrorCode; message?: string }> };
    code = parsed.errors?.[0]?.code ?? code;
    message = parsed.errors?.[0]?.message ?? message;
  } catch {
    // Keep the generic error.
  }
  const headers: Record<string, string> = {};
  for (const name of ["Retry-After", "Content-Range"]) {
    const value = response.headers.get(name);
    if (value) headers[name] = value;
  }
  return new RegistryError(response.status, code, message, headers);
}
