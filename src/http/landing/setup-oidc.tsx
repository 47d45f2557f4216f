/**
 * The workload identity tab: CI jobs and cluster nodes log in with their platform's OIDC token (user
 * `oidc`), no stored secret. Shown when `OIDC_ISSUERS` is set, with this mirror's host and each
 * issuer's audience filled in.
 */
import { type Ctx, dockerHub, mirrorImage } from "./context";
import { Snippet } from "./snippet";

export const GITHUB_ISSUER = "https://token.actions.githubusercontent.com";

/** The audience a platform must put in its token for `issuer` (the first configured one). */
export function audienceFor(ctx: Ctx, match: (issuer: string) => boolean): string {
  const found = ctx.oidcIssuers?.find((entry) => match(entry.issuer));
  return found?.audiences[0] ?? ctx.oidcIssuers?.[0]?.audiences[0] ?? ctx.origin;
}

/** The steps of a GitHub Actions job that log in with the job's own token. */
export function githubOidcLogin(ctx: Ctx): string[] {
  const audience = audienceFor(ctx, (issuer) => issuer === GITHUB_ISSUER);
  return [
    "# The job needs `permissions: id-token: write`.",
    "- name: Token for the registry mirror",
    "  id: mirror-token",
    "  uses: actions/github-script@v7",
    "  with:",
    "    result-encoding: string",
    `    script: return await core.getIDToken(${JSON.stringify(audience)})`,
    "- name: Log in to the registry mirror",
    "  uses: docker/login-action@v3",
    "  with:",
    `    registry: ${ctx.host}`,
    "    username: oidc",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: GitHub Actions expression, not a template
    "    password: ${{ steps.mirror-token.outputs.result }}",
    "",
  ];
}

function gitlabJob(ctx: Ctx): string {
  const audience = audienceFor(ctx, (issuer) => /gitlab/i.test(issuer));
  return [
    "pull:",
    "  id_tokens:",
    "    MIRROR_ID_TOKEN:",
    `      aud: ${JSON.stringify(audience)}`,
    "  script:",
    `    - echo "$MIRROR_ID_TOKEN" | docker login ${ctx.host} -u oidc --password-stdin`,
    `    - docker pull ${mirrorImage(ctx, dockerHub(ctx))}`,
  ].join("\n");
}

function kubeletConfig(ctx: Ctx): string {
  const audience = audienceFor(
    ctx,
    (issuer) => !issuer.includes("githubusercontent") && !/gitlab/i.test(issuer),
  );
  return [
    "apiVersion: kubelet.config.k8s.io/v1",
    "kind: CredentialProviderConfig",
    "providers:",
    "  - name: mirror-credential-provider",
    "    matchImages:",
    `      - ${JSON.stringify(ctx.host)}`,
    '    defaultCacheDuration: "5m"',
    "    apiVersion: credentialprovider.kubelet.k8s.io/v1",
    "    tokenAttributes:",
    `      serviceAccountTokenAudience: ${JSON.stringify(audience)}`,
    '      cacheType: "Token"',
    "      requireServiceAccount: true",
  ].join("\n");
}

export function OidcSetup({ ctx }: { ctx: Ctx }) {
  return (
    <>
      <p class="note">
        Jobs and pods log in with the identity token their platform already gives them: user <code>oidc</code>
        , the token as the password (or as a <code>Bearer</code>). This mirror trusts{" "}
        {(ctx.oidcIssuers ?? []).map((entry, i) => (
          <>
            {i > 0 ? ", " : null}
            <code>{entry.issuer}</code>
          </>
        ))}
        ; its rules decide what each token may pull. Tokens are short-lived: log in right before pulling.
      </p>
      <Snippet
        name=".github/workflows/build.yml (steps)"
        lang="yaml"
        kind="oidc-github"
        code={githubOidcLogin(ctx).join("\n").trimEnd()}
      />
      <Snippet name=".gitlab-ci.yml" lang="yaml" kind="oidc-gitlab" code={gitlabJob(ctx)} />
      <Snippet
        name="credential-provider-config.yaml (kubelet, Kubernetes 1.34+)"
        lang="yaml"
        kind="oidc-kubernetes"
        code={kubeletConfig(ctx)}
      />
      <p class="note">
        Install <code>scripts/kubernetes/mirror-credential-provider</code> from the mirror's repository in the
        kubelet's <code>--image-credential-provider-bin-dir</code> and this file as its{" "}
        <code>--image-credential-provider-config</code>: each pod then pulls with its own service-account
        token.
      </p>
    </>
  );
}
