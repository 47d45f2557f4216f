/** Set-up tabs for what runs containers: Docker, containerd, podman / CRI-O, k3s. */
import { type Ctx, dockerHub, exampleImage, mirrorImage, q, registryHost } from "./context";
import { Login, Snippet } from "./snippet";

export function DockerSetup({ ctx }: { ctx: Ctx }) {
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
          {ctx.authRequired ? (
            <p class="note warn" id="docker-mirror-login">
              This mirror requires a login, and <code>{`docker login ${ctx.host}`}</code> does not reach{" "}
              <code>registry-mirrors</code> pulls: Docker sends a mirror only the credentials it keeps for
              Docker Hub (<code>index.docker.io</code>), and sends those to Docker Hub as well whenever it
              falls back to it. Never store this mirror's password as your Docker Hub login. Name images
              through the mirror instead (below, after <code>{`docker login ${ctx.host}`}</code>), or use{" "}
              <code>registry-mirrors</code> with a mirror that needs no login.
            </p>
          ) : null}
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

export function ContainerdSetup({ ctx }: { ctx: Ctx }) {
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

export function PodmanSetup({ ctx }: { ctx: Ctx }) {
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

export function K3sSetup({ ctx }: { ctx: Ctx }) {
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
