/**
 * Repository patterns: `*` matches within one path component, `**` across components.
 * `library/*` matches `library/alpine` but not `library/a/b`; `bitnami/**` matches everything below.
 */
const PATTERN = /^[a-z0-9._\-/*]+$/;

export function isValidGlob(pattern: string): boolean {
  return PATTERN.test(pattern) && pattern.length <= 255;
}

export function compileGlob(pattern: string): RegExp {
  let source = "";
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern[index] ?? "";
    if (char === "*" && pattern[index + 1] === "*") {
      source += ".*";
      index++;
    } else if (char === "*") {
      source += "[^/]*";
    } else {
      source += char.replace(/[.\-/]/g, (special) => `\\${special}`);
    }
  }
  return new RegExp(`^${source}$`);
}

export function matchesAny(patterns: readonly RegExp[], value: string): boolean {
  return patterns.some((pattern) => pattern.test(value));
}
