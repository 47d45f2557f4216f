import { manifestUnknown, nameInvalid } from "./errors";

/** A repository name component per the OCI distribution spec. */
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const MAX_NAME_LENGTH = 255;

export function isValidName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) return false;
  return name.split("/").every((component) => COMPONENT.test(component));
}

export function assertValidName(name: string): void {
  if (!isValidName(name)) {
    throw nameInvalid(
      name.length > MAX_NAME_LENGTH
        ? `repository name is longer than ${MAX_NAME_LENGTH} characters`
        : `invalid repository name "${truncate(name)}"`,
    );
  }
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

/**
 * A malformed tag names no manifest: 404 MANIFEST_UNKNOWN, as the distribution spec (and its
 * conformance suite) wants for a manifest that is not found; checked before any upstream request.
 */
export function assertValidTag(tag: string): void {
  if (!isValidTag(tag)) {
    throw manifestUnknown(`no manifest: "${truncate(tag)}" is not a valid tag`);
  }
}

/** Keeps echoed client input short in error messages. */
export function truncate(value: string, max = 80): string {
  return value.length > max ? `${value.slice(0, max)}…` : value;
}
