/**
 * Repository patterns: `*` matches within one path component, `**` across components.
 * `library/*` matches `library/alpine` but not `library/a/b`; `bitnami/**` matches everything below.
 */
const PATTERN = /^[a-z0-9._\-/*]+$/;

export function isValidGlob(pattern: string): boolean {
  return PATTERN.test(pattern) && pattern.length <= 255;
}

/**
 * Patterns for a token's claim values (OIDC rules): the same `*` / `**` syntax, over any printable
 * text, since claims hold capitals, `:` and `@` (`repo:Acme/app:ref:refs/heads/main`). Case-sensitive.
 */
export function isValidClaimPattern(pattern: string): boolean {
  return pattern.length >= 1 && pattern.length <= 255 && ![...pattern].some(isControl);
}

function isControl(char: string): boolean {
  const code = char.charCodeAt(0);
  return code < 0x20 || code === 0x7f;
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
      source += char.replace(/[.\-/\\^$+?()[\]{}|]/g, (special) => `\\${special}`);
    }
  }
  return new RegExp(`^${source}$`, "s");
}

export function matchesAny(patterns: readonly RegExp[], value: string): boolean {
  return patterns.some((pattern) => pattern.test(value));
}
