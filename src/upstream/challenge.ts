/** One challenge of a `WWW-Authenticate` header: `Bearer realm="…",service="…",scope="…"`. */
export interface Challenge {
  /** Lower-cased auth scheme, e.g. `bearer` or `basic`. */
  readonly scheme: string;
  /** Parameters by lower-cased name; quoted values unquoted. */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
const WHITESPACE = /[ \t]*/y;
/** A token68 that stands alone: followed by the end or by a comma, not by a parameter's value. */
const TOKEN68 = /[A-Za-z0-9._~+/-]+=*(?=[ \t]*(?:,|$))/y;

/**
 * Parses a `WWW-Authenticate` value per RFC 9110: quoted values may contain commas and escaped quotes,
 * several challenges may follow each other. Splitting on commas breaks on scopes such as
 * `scope="repository:x:pull,push"`, so this reads the header token by token.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let position = 0;
  let current: { scheme: string; params: Record<string, string> } | null = null;

  const skip = (pattern: RegExp): string | null => {
    pattern.lastIndex = position;
    const match = pattern.exec(header);
    if (!match) return null;
    position = pattern.lastIndex;
    return match[0];
  };

  while (position < header.length) {
    skip(WHITESPACE);
    if (header[position] === ",") {
      position++;
      continue;
    }
    const word = skip(TOKEN);
    if (!word) break; // Malformed from here on: keep what was understood.
    skip(WHITESPACE);
    if (header[position] === "=" && current) {
      position++;
      skip(WHITESPACE);
      current.params[word.toLowerCase()] = header[position] === '"' ? readQuoted() : (skip(TOKEN) ?? "");
    } else {
      current = { scheme: word.toLowerCase(), params: {} };
      challenges.push(current);
      // `Negotiate YWJj==`: a token68 in place of parameters. Skip it, so a challenge after it is read.
      TOKEN68.lastIndex = position;
      const token68 = TOKEN68.exec(header);
      if (token68) position = TOKEN68.lastIndex;
    }
  }
  return challenges;

  function readQuoted(): string {
    position++; // opening quote
    let value = "";
    while (position < header.length && header[position] !== '"') {
      if (header[position] === "\\" && position + 1 < header.length) position++;
      value += header[position];
      position++;
    }
    position++; // closing quote
    return value;
  }
}
