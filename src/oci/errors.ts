/**
 * Registry errors as typed values. Every layer throws these; only the HTTP layer turns them into
 * OCI JSON responses, so no stack trace or upstream secret can reach a client.
 */
export type ErrorCode =
  | "BLOB_UNKNOWN"
  | "DENIED"
  | "DIGEST_INVALID"
  | "MANIFEST_INVALID"
  | "MANIFEST_UNKNOWN"
  | "NAME_INVALID"
  | "NAME_UNKNOWN"
  | "PAGINATION_NUMBER_INVALID"
  | "RANGE_INVALID"
  | "SIZE_INVALID"
  | "TAG_INVALID"
  | "TOOMANYREQUESTS"
  | "UNAUTHORIZED"
  | "UNAVAILABLE"
  | "UNKNOWN"
  | "UNSUPPORTED";

export class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    /** Extra response headers, e.g. `Retry-After` for 429 or `Allow` for 405. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "RegistryError";
  }
}

export const nameInvalid = (message: string) => new RegistryError(400, "NAME_INVALID", message);
export const nameUnknown = (message: string) => new RegistryError(404, "NAME_UNKNOWN", message);
export const digestInvalid = (message: string) => new RegistryError(400, "DIGEST_INVALID", message);
export const manifestUnknown = (message: string) => new RegistryError(404, "MANIFEST_UNKNOWN", message);
export const unsupported = (message: string, headers: Record<string, string> = {}) =>
  new RegistryError(405, "UNSUPPORTED", message, headers);

/** The body of an OCI distribution error response. */
export function errorBody(error: RegistryError): string {
  return JSON.stringify({ errors: [{ code: error.code, message: error.message, detail: null }] });
}
