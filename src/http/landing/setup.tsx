/** The client set-up tabs of the landing page: one copy-paste snippet per client, this mirror's host filled in. */
import type { Child } from "hono/jsx";
import { type Ctx, dockerHub, exampleImage, mirrorImage, q, registryHost } from "./context";

interface Tab {
  id: string;
  label: string;
  body: Child;
}

export function Setup({ ctx }: { ctx: Ctx }) {
  const tabs: Tab[] = [
    { id: "docker", label: "Docker", body: <DockerSetup ctx={ctx} /> },
    { id: "containerd", label: "containerd", body: <ContainerdSetup ctx={ctx} /> },
    { id: "podman", label: "podman / CRI-O", body: <PodmanSetup ctx={ctx} /> },
    { id: "k3s", label: "k3s", body: <K3sSetup ctx={ctx} /> },
    { id: "buildkit", label: "BuildKit", body: <BuildKitSetup ctx={ctx} /> },
    { id: "github", label: "GitHub Actions", body: <GitHubSetup ctx={ctx} /> },
  ];
  return (
    <section id="setup">
      <h2>Client set-up</h2>
      <p class="note">
        Every snippet already names this mirror, <code>{ctx.origin}</code>.
        {ctx.authRequired
          ? " This mirror requires a login: each tab shows where the client keeps its credentials."
          : null}
      </p>
      <div class="tabs" role="tablist" aria-label="Client">
        {tabs.map((t, i) => (
          <button
            type="button"
            role="tab"
            id={`tab-${t.id}`}
            aria-controls={`panel-${t.id}`}
            aria-selected={i === 0 ? "true" : "false"}
          >
            {t.label}
          </button>
        ))}
      </div>
      {tabs.map((t) => (
        <div class="panel" role="tabpanel" id={`panel-${t.id}`} aria-labelledby={`tab-${t.id}`}>
          <h3 class="panel-title">{t.label}</h3>
          {t.body}
        </div>
      ))}
    </section>
  );
}

function Snippet(props: { name: string; lang: string; code: string; kind: string }) {
  return (
    <figure class="snippet" data-kind={props.kind}>
      <figcaption>
        <span class="file">
          {props.name.split("/").map((part, i) => (
            <>
              {i > 0 ? (
                <>
                  /<wbr />
                </>
              ) : null}
              {part}
            </>
          ))}
        </span>
        <span class="lang">{props.lang}</span>
        <button type="button" class="copy" data-copy="">
          Copy
        </button>
      </figcaption>
      <pre>
        <code>{props.code}</code>
      </pre>
    </figure>
  );
}

function Login(props: { ctx: Ctx; kind: string; lines: string[]; where: Child }) {
  if (!props.ctx.authRequired) return null;
  return (
    <>
      <Snippet
        name="Log in to the mirror"
        lang="shell"
        kind={`${props.kind}-login`}
        code={props.lines.join("\n")}
      />
      <p class="note">{props.where}</p>
    </>
  );
}

function DockerSetup({ ctx }: { ctx: Ctx }) {
  const hub = dockerHub(ctx);
  const root = ctx.defaultUpstream !== null && hub?.prefix === ctx.defaultUpstream;
  const mirrorUrl = hub ? (root ? ctx.origin : `${ctx.origin}/${hub.prefix}`) : ctx.origin;
  const daemon = [`  "registry-mirrors": [${q(mirrorUrl)}]`];
  if (ctx.insecure) daemon.push(`  "insecure-registries": [${q(ctx.host)}]`);
  const pathForm = hub ? `${ctx.origin}/${hub.prefix}` : null;
  const examples = [hub, ctx.upstreams.find((u) => u !== hub)].filter((u) => u !== undefined);
  return (
    <>
      {hub ? (
        <>
          <Snippet
            name="/etc/docker/daemon.json"
            lang="json"
            kind="docker"
            code={`{\n${daemon.join(",\n")}\n}`}
          />
          <p class="note">
            Restart Docker after editing (<code>sudo systemctl restart docker</code>). Docker uses{" "}
            <code>registry-mirrors</code> for Docker Hub only (upstream <code>{hub.prefix}</code>); images of
            other registries are pulled directly unless named through the mirror, as below.
            {root && pathForm ? (
              <>
                {" "}
                With Docker ≥ 25 the path form works too: <code>{q(pathForm)}</code>.
              </>
            ) : (
              " There is no default upstream, so the Docker ≥ 25 path form is needed."
            )}
          </p>
        </>
      ) : (
        <p class="note">
          No upstream serves Docker Hub, so Docker's <code>registry-mirrors</code> has nothing to use here.
        </p>
      )}
      {examples.length ? (
        <Snippet
          name="Pull by the mirror's name (any upstream)"
          lang="shell"
          kind="docker-pull"
          code={examples.map((u) => `docker pull ${mirrorImage(ctx, u)}`).join("\n")}
        />
      ) : null}
      <Login
        ctx={ctx}
        kind="docker"
        lines={[`docker login ${ctx.host}`]}
        where={
          <>
            <code>docker login</code> keeps the credentials in <code>~/.docker/config.json</code> (or its
            credential helper); Docker and BuildKit send them when an image is named through the mirror.
          </>
        }
      />
    </>
  );
}

function ContainerdSetup({ ctx }: { ctx: Ctx }) {
  return (
    <>
      <p class="note">
        One <code>hosts.toml</code> per registry under <code>/etc/containerd/certs.d/</code>, with{" "}
        <code>config_path = "/etc/containerd/certs.d"</code> in the CRI registry configuration. Use either
        form: the default path form, or <code>override_path</code>.
      </p>
      {ctx.upstreams.map((u) => {
        const dir = `/etc/containerd/certs.d/${registryHost(u)}/hosts.toml`;
        const server = `server = ${q(u.url)}\n\n`;
        return (
          <div class="pair">
            <Snippet
              name={dir}
              lang="default path"
              kind="containerd"
              code={`${server}[host.${q(`${ctx.origin}/${u.prefix}`)}]\n  capabilities = ["pull", "resolve"]`}
            />
            <Snippet
              name={dir}
              lang="override_path"
              kind="containerd-override"
              code={`${server}[host.${q(`${ctx.origin}/v2/${u.prefix}`)}]\n  capabilities = ["pull", "resolve"]\n  override_path = true`}
            />
          </div>
        );
      })}
      <Login
        ctx={ctx}
        kind="containerd"
        lines={[
          `ctr images pull --hosts-dir /etc/containerd/certs.d --user "$MIRROR_USER:$MIRROR_PASSWORD" \\`,
          `  ${exampleImage(dockerHub(ctx) ?? ctx.upstreams[0])}`,
        ]}
        where={
          <>
            <code>ctr --user</code> answers the mirror's login for one pull; for the CRI (kubelet) put the
            credentials in containerd's registry configuration for <code>{ctx.host}</code>.
          </>
        }
      />
    </>
  );
}

function PodmanSetup({ ctx }: { ctx: Ctx }) {
  const blocks = ctx.upstreams.map((u) => {
    const host = registryHost(u);
    const mirror = [`[[registry.mirror]]`, `location = ${q(`${ctx.host}/${u.prefix}`)}`];
    if (ctx.insecure) mirror.push("insecure = true");
    return [`[[registry]]`, `prefix = ${q(host)}`, `location = ${q(host)}`, "", ...mirror].join("\n");
  });
  return (
    <>
      <Snippet name="/etc/containers/registries.conf" lang="toml" kind="podman" code={blocks.join("\n\n")} />
      <p class="note">
        Read by podman, CRI-O, buildah and skopeo. The mirror is tried first; the registry itself stays the
        fallback.
      </p>
      <Login
        ctx={ctx}
        kind="podman"
        lines={[
          `podman login ${ctx.host}`,
          `skopeo inspect --creds "$MIRROR_USER:$MIRROR_PASSWORD" docker://${mirrorImage(ctx, dockerHub(ctx) ?? ctx.upstreams[0])}`,
        ]}
        where={
          <>
            <code>podman login</code> keeps the credentials in{" "}
            <code>$XDG_RUNTIME_DIR/containers/auth.json</code> (root: <code>/run/containers/0/auth.json</code>
            ); CRI-O reads the kubelet's pull secrets or its <code>global_auth_file</code>.
          </>
        }
      />
    </>
  );
}

function K3sSetup({ ctx }: { ctx: Ctx }) {
  const hosts = [...new Set(ctx.upstreams.flatMap((u) => (u.hosts.length ? u.hosts : [registryHost(u)])))];
  const lines = ["mirrors:"];
  for (const h of hosts) lines.push(`  ${q(h)}:`, "    endpoint:", `      - ${q(ctx.origin)}`);
  if (ctx.authRequired) {
    lines.push(
      "configs:",
      `  ${q(ctx.host)}:`,
      "    auth:",
      `      username: "<user>"`,
      `      password: "<password>"`,
    );
  }
  return (
    <>
      <Snippet name="/etc/rancher/k3s/registries.yaml" lang="yaml" kind="k3s" code={lines.join("\n")} />
      <p class="note">
        k3s configures containerd, which adds <code>?ns=&lt;registry&gt;</code> to every request, so the
        mirror's root is enough: the registry host picks the upstream. Restart k3s after editing.
        {ctx.authRequired ? (
          <>
            {" "}
            The credentials go under <code>configs</code>, keyed by the mirror's host.
          </>
        ) : null}
      </p>
    </>
  );
}

function buildkitToml(ctx: Ctx): string {
  const blocks = ctx.upstreams.map(
    (u) => `[registry.${q(registryHost(u))}]\n  mirrors = [${q(`${ctx.host}/${u.prefix}`)}]`,
  );
  if (ctx.insecure) blocks.push(`[registry.${q(ctx.host)}]\n  http = true`);
  return blocks.join("\n\n");
}

function BuildKitSetup({ ctx }: { ctx: Ctx }) {
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

function GitHubSetup({ ctx }: { ctx: Ctx }) {
  const hub = dockerHub(ctx);
  const mirrorUrl = hub && hub.prefix !== ctx.defaultUpstream ? `${ctx.origin}/${hub.prefix}` : ctx.origin;
  const steps: string[] = [];
  if (ctx.authRequired) {
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
        {ctx.authRequired ? (
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
