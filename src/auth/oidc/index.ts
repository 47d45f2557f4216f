// Workload identity: platform-issued OIDC tokens (GitHub Actions, GitLab CI, Kubernetes service
// accounts) as client credentials, checked against `OIDC_ISSUERS`.
export {
  DEFAULT_MAX_TOKEN_LIFETIME,
  OIDC_USER,
  type OidcConfig,
  type OidcIssuer,
  type OidcRule,
  parseOidcIssuers,
} from "./config";
export { type Fetcher, IssuerKeys, MIN_FETCH_INTERVAL_MS } from "./keys";
export { matchRules, type RuleMatch } from "./rules";
export {
  ALGORITHMS,
  CLOCK_SKEW_SECONDS,
  type OidcCheck,
  type OidcIdentity,
  type OidcResult,
  OidcVerifier,
} from "./verify";
