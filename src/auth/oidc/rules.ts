import type { OidcIssuer } from "./config";

/** What a verified token may do, and why. */
export interface RuleMatch {
  /** The union of the matching rules' `allow` patterns, in order, without repeats. */
  readonly allow: readonly string[];
  /** The claims the matching rules named, with the token's values: who pulled, for the audit log. */
  readonly matched: Readonly<Record<string, string>>;
}

/**
 * The rules a token's claims satisfy. A rule matches when each claim it names is a string in the token
 * matching the claim's pattern; a missing claim (or one that is not a string) never matches. Null when
 * no rule matches: the token is refused.
 */
export function matchRules(issuer: OidcIssuer, claims: Readonly<Record<string, unknown>>): RuleMatch | null {
  const allow = new Set<string>();
  const matched: Record<string, string> = {};
  for (const rule of issuer.rules) {
    const fits = rule.claims.every(({ name, pattern }) => {
      const value = Object.hasOwn(claims, name) ? claims[name] : undefined;
      return typeof value === "string" && pattern.test(value);
    });
    if (!fits) continue;
    for (const pattern of rule.allow) allow.add(pattern);
    for (const { name } of rule.claims) matched[name] = claims[name] as string;
  }
  return allow.size > 0 ? { allow: [...allow], matched } : null;
}
