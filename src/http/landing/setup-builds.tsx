/** Set-up tabs for what builds images: BuildKit, GitHub Actions. */
import { type Ctx, dockerHub, q, registryHost } from "./context";
import { GITHUB_ISSUER, githubOidcLogin } from "./setup-oidc";
import { Login, Snippet } from "./snippet";

function buildkitToml(ctx: Ctx): string {
  const blocks = ctx.upstreams.map(
    (u) => `[registry.${q(registryHost(u))}]\n  mirrors = [${q(`${ctx.host}/${u.prefix}`)}]`,
  );
  if (ctx.insecure) blocks.push(`[registry.${q(ctx.host)}]\n  http = true`);
  return blocks.join("\n\n");
}

export function BuildKitSetup({ ctx }: { ctx: Ctx }) {
  return (
    <>
      <Snippet name="buildkitd.toml" lang="toml" kind="buildkit" code={buildkitToml(ctx)} />
      <p class="note">
        Use it with <code>docker buildx create --use --config buildkitd.toml</code> (or{" "}
        <code>/etc/buildkit/buildkitd.toml</code> for a standalone <code>buildkitd</code>).
      </p>
      <Login
        ctx={ctx}
        kind="buildkit"
        lines={[`docker login ${ctx.host}`]}
        where={
          <>
            BuildKit asks the client (<code>docker buildx</code>) for credentials, which come from{" "}
            <code>~/.docker/config.json</code>.
          </>
        }
      />
    </>
  );
}

export function GitHubSetup({ ctx }: { ctx: Ctx }) {
  const hub = dockerHub(ctx);
  const mirrorUrl = hub && hub.prefix !== ctx.defaultUpstream ? `${ctx.origin}/${hub.prefix}` : ctx.origin;
  const steps: string[] = [];
  // A mirror that trusts GitHub's issuer: the job logs in with its own token, no stored secret.
  const withOidc = ctx.oidcIssuers?.some((entry) => entry.issuer === GITHUB_ISSUER) ?? false;
  if (withOidc) {
    steps.push(...githubOidcLogin(ctx));
  } else if (ctx.authRequired) {
    steps.push(
      "- name: Log in to the registry mirror",
      "  uses: docker/login-action@v3",
      "  with:",
      `    registry: ${ctx.host}`,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: GitHub Actions expression, not a template
      "    username: ${{ secrets.MIRROR_USER }}",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: GitHub Actions expression, not a template
      "    password: ${{ secrets.MIRROR_PASSWORD }}",
      "",
    );
  }
  if (hub) {
    const set = ctx.insecure
      ? `{"registry-mirrors": [${q(mirrorUrl)}], "insecure-registries": [${q(ctx.host)}]}`
      : `{"registry-mirrors": [${q(mirrorUrl)}]}`;
    steps.push(
      "- name: Use the registry mirror for Docker Hub",
      "  run: |",
      "    sudo mkdir -p /etc/docker",
      "    [ -s /etc/docker/daemon.json ] || echo '{}' | sudo tee /etc/docker/daemon.json >/dev/null",
      `    sudo jq '. + ${set}' \\`,
      "      /etc/docker/daemon.json > /tmp/daemon.json",
      "    sudo mv /tmp/daemon.json /etc/docker/daemon.json",
      "    sudo systemctl restart docker",
      "",
    );
  }
  steps.push(
    "- uses: docker/setup-buildx-action@v3",
    "  with:",
    "    buildkitd-config-inline: |",
    ...buildkitToml(ctx)
      .split("\n")
      .map((l) => (l ? `      ${l}` : "")),
  );
  return (
    <>
      <Snippet name=".github/workflows/build.yml (steps)" lang="yaml" kind="github" code={steps.join("\n")} />
      <p class="note">
        The first step points the runner's own Docker at the mirror (keeping the runner's other{" "}
        <code>daemon.json</code> settings); the builder that <code>setup-buildx-action</code> creates gets the
        BuildKit mirrors.
        {withOidc ? (
          <>
            {" "}
            The job logs in with its own OIDC token (user <code>oidc</code>): give it{" "}
            <code>permissions: id-token: write</code>; no secret is stored.
          </>
        ) : ctx.authRequired ? (
          <>
            {" "}
            Store the mirror's user and password as repository secrets <code>MIRROR_USER</code> and{" "}
            <code>MIRROR_PASSWORD</code>; <code>login-action</code> writes them to the runner's Docker config.
          </>
        ) : null}
      </p>
    </>
  );
}
