import { parseDigest } from "../oci/digest";
import { isValidName, isValidTag } from "../oci/names";
import { ConfigError } from "./error";

/** An image to keep warm: `<prefix>/<name>:<tag>` (or `@<digest>`), optionally only some platforms. */
export interface WarmImage {
  readonly prefix: string;
  readonly name: string;
  readonly reference: string;
  /** `os/architecture[/variant]`; all platforms when absent. */
  readonly platforms: readonly string[] | null;
  /** As written, for logs. */
  readonly image: string;
}

/**
 * Images `WARM_IMAGES` may list. The cron warms them within its share of an invocation's operations and
 * leaves the rest to the stats object's alarm, a share at a time: a longer list would take hours to go
 * round, and each entry runs again every day.
 */
export const MAX_WARM_IMAGES = 50;

/**
 * Parses `WARM_IMAGES`: a JSON array (or TOML array) of `"prefix/name:tag"` strings and
 * `{ "image": "...", "platforms": ["linux/amd64"] }` objects, or a plain whitespace/comma separated list.
 */
export function parseWarmImages(value: unknown, prefixes: ReadonlySet<string>): WarmImage[] {
  if (value === undefined || value === null || value === "") return [];
  let entries: unknown = value;
  if (typeof value === "string") {
    const text = value.trim();
    entries = text.startsWith("[") ? parseJson(text) : text.split(/[\s,]+/).filter(Boolean);
  }
  if (!Array.isArray(entries)) throw warmError("must be a list of images");
  if (entries.length > MAX_WARM_IMAGES) {
    throw warmError(
      `lists ${entries.length} images; at most ${MAX_WARM_IMAGES} (each costs the daily cron operations of its ` +
        "manifests and blobs): keep the ones the first pulls of a day need",
    );
  }
  return entries.map((entry, index) => {
    if (typeof entry === "string") return parseWarmImage(entry, null, prefixes, index);
    if (entry && typeof entry === "object" && typeof (entry as { image?: unknown }).image === "string") {
      const { image, platforms } = entry as { image: string; platforms?: unknown };
      if (platforms !== undefined && !(Array.isArray(platforms) && platforms.every(isPlatform))) {
        throw warmError(`[${index}].platforms: must be a list like ["linux/amd64", "linux/arm64/v8"]`);
      }
      return parseWarmImage(image, (platforms as string[] | undefined) ?? null, prefixes, index);
    }
    throw warmError(`[${index}]: must be "prefix/name:tag" or { "image": ..., "platforms": [...] }`);
  });
}

export function parseWarmImage(
  image: string,
  platforms: readonly string[] | null,
  prefixes: ReadonlySet<string>,
  index = 0,
): WarmImage {
  const slash = image.indexOf("/");
  const prefix = image.slice(0, slash);
  if (slash <= 0 || !prefixes.has(prefix))
    throw warmError(`[${index}]: "${image.slice(0, 100)}" does not start with a configured prefix`);
  let rest = image.slice(slash + 1);
  let reference = "latest";
  const at = rest.indexOf("@");
  if (at >= 0) {
    reference = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      parseDigest(reference);
    } catch {
      throw warmError(`[${index}]: invalid digest in "${image.slice(0, 100)}"`);
    }
  } else {
    const colon = rest.lastIndexOf(":");
    if (colon >= 0) {
      reference = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
    }
    if (!isValidTag(reference)) throw warmError(`[${index}]: invalid tag in "${image.slice(0, 100)}"`);
  }
  if (!isValidName(rest)) throw warmError(`[${index}]: invalid repository name in "${image.slice(0, 100)}"`);
  return { prefix, name: rest, reference, platforms, image };
}

function isPlatform(value: unknown): boolean {
  return typeof value === "string" && /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(value);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw warmError("not valid JSON");
  }
}

function warmError(message: string): ConfigError {
  return new ConfigError(
    `invalid configuration: WARM_IMAGES${message.startsWith("[") ? "" : ": "}${message}`,
  );
}
