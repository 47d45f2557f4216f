import { raw } from "hono/html";
import type { Child } from "hono/jsx";

/** What the landing page at `/` shows: this mirror's own address and its configured upstreams. */
export interface LandingPageInput {
  /** e.g. "https://mirror.example.workers.dev" or "http://127.0.0.1:8787" — taken from the request URL */
  origin: string;
  /** host[:port] of the mirror, e.g. "mirror.example.workers.dev" */
  host: string;
  upstreams: ReadonlyArray<{
    prefix: string;
    url: string;
    hosts: readonly string[];
    library: boolean;
    tagTtl: number;
  }>;
  defaultUpstream: string | null;
  /** true when MIRROR_USERS is set: show the login step in snippets */
  authRequired: boolean;
}

type Upstream = LandingPageInput["upstreams"][number];

/**
 * The landing page: what this mirror is, its upstreams, copy-paste client set-up with this mirror's
 * host filled in, and the admin stats. All values pass through JSX, which escapes them; the only raw
 * HTML is the fixed CSS and script below.
 */
export function renderLandingPage(input: LandingPageInput): string {
  return `<!doctype html>${(<Page {...input} />).toString()}`;
}

function Page(input: LandingPageInput) {
  const origin = input.origin.replace(/\/+$/, "");
  const ctx: Ctx = { ...input, origin, insecure: origin.startsWith("http:") };
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex" />
        <link rel="icon" href="data:," />
        <title>{`Registry mirror · ${input.host}`}</title>
        <style>{raw(CSS)}</style>
      </head>
      <body>
        <header>
          <div class="wrap">
            <p class="kicker">Pull-through container-registry mirror</p>
            <h1>{input.host}</h1>
            <p class="lead">
              Point Docker, containerd, podman, k3s or BuildKit here instead of pulling from Docker Hub, Quay
              or GHCR directly. Layers are cached at the edge and served to every runner after the first pull;
              the mirror is pull-only.
            </p>
            <p class="facts">
              <span class="pill">
                {input.upstreams.length === 1 ? "1 upstream" : `${input.upstreams.length} upstreams`}
              </span>
              <span class="pill">
                {input.defaultUpstream ? (
                  <>
                    default: <code>{input.defaultUpstream}</code>
                  </>
                ) : (
                  "no default upstream"
                )}
              </span>
              <span class={input.authRequired ? "pill warn" : "pill"}>
                {input.authRequired ? "login required" : "anonymous pulls"}
              </span>
            </p>
          </div>
        </header>
        <main class="wrap">
          <Upstreams ctx={ctx} />
          <Setup ctx={ctx} />
          <Admin />
        </main>
        <footer class="wrap">
          <p>
            Registry API at <code>{`${origin}/v2/`}</code> · OCI distribution, pull only
          </p>
        </footer>
        <script>{raw(SCRIPT)}</script>
      </body>
    </html>
  );
}

interface Ctx extends LandingPageInput {
  /** The mirror is reached over plain HTTP (local `wrangler dev`): clients must be told so. */
  insecure: boolean;
}

function Upstreams({ ctx }: { ctx: Ctx }) {
  return (
    <section id="upstreams">
      <h2>Upstreams</h2>
      <p class="note">
        A path prefix picks the upstream (<code>{`${ctx.host}/<prefix>/…`}</code>); containerd's{" "}
        <code>?ns=&lt;host&gt;</code> picks it through the registry hosts.
        {ctx.defaultUpstream ? (
          <>
            {" "}
            Names without a prefix go to <code>{ctx.defaultUpstream}</code>.
          </>
        ) : (
          " Names without a prefix are refused: there is no default upstream."
        )}
      </p>
      <div class="table">
        <table>
          <thead>
            <tr>
              <th>Prefix</th>
              <th>Upstream</th>
              <th>Registry hosts (ns)</th>
              <th class="num">Tag TTL</th>
            </tr>
          </thead>
          <tbody>
            {ctx.upstreams.map((u) => (
              <tr data-prefix={u.prefix}>
                <td>
                  <code class="prefix">{u.prefix}</code>
                  {u.prefix === ctx.defaultUpstream ? <span class="tag">default</span> : null}
                  {u.library ? (
                    <span class="tag muted" title="one-component names get library/">
                      library/
                    </span>
                  ) : null}
                </td>
                <td>
                  <code class="url">{u.url}</code>
                </td>
                <td>
                  {u.hosts.length === 0 ? (
                    <span class="muted">—</span>
                  ) : (
                    u.hosts.map((h, i) => (
                      <>
                        {i > 0 ? " " : null}
                        <code class="host">{h}</code>
                      </>
                    ))
                  )}
                </td>
                <td class="num">{ttl(u.tagTtl)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** "5 min", "1 h", "90 s"; 0 means every pull of a tag asks the upstream. */
function ttl(seconds: number): string {
  if (seconds <= 0) return "always revalidate";
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** A double-quoted string for JSON, TOML and YAML alike. */
const q = (s: string) => JSON.stringify(s);

/** The registry host clients name the upstream by (the directory containerd looks up, the key of mirrors). */
function registryHost(u: Upstream): string {
  if (u.hosts[0]) return u.hosts[0];
  try {
    return new URL(u.url).host;
  } catch {
    return u.prefix;
  }
}

/** The upstream Docker's `registry-mirrors` serves: Docker Hub, i.e. the default, else a `library` one. */
function dockerHub(ctx: Ctx): Upstream | undefined {
  return (
    ctx.upstreams.find((u) => u.prefix === ctx.defaultUpstream) ??
    ctx.upstreams.find((u) => u.hosts.includes("docker.io")) ??
    ctx.upstreams.find((u) => u.library)
  );
}

function exampleRepository(u: Upstream | undefined): string {
  return !u || u.library ? "library/alpine:latest" : "<repository>:<tag>";
}

/** An image named through the mirror, e.g. `mirror.example/dockerhub/library/alpine:latest`. */
function mirrorImage(ctx: Ctx, u: Upstream | undefined): string {
  return `${ctx.host}/${u?.prefix ?? "<prefix>"}/${exampleRepository(u)}`;
}

/** An image as the client names it without the mirror, e.g. `docker.io/library/alpine:latest`. */
function exampleImage(u: Upstream | undefined): string {
  return `${u ? registryHost(u) : "docker.io"}/${exampleRepository(u)}`;
}

interface Tab {
  id: string;
  label: string;
  body: Child;
}

function Setup({ ctx }: { ctx: Ctx }) {
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

function Admin() {
  return (
    <section id="admin">
      <h2>Admin</h2>
      <p class="note">
        Stats need the mirror's <code>ADMIN_TOKEN</code>. The token stays in this browser tab (session
        storage) and is sent only to this mirror.
      </p>
      <form id="admin-form" class="admin-form" autocomplete="off">
        <label for="admin-token">Admin token</label>
        <input id="admin-token" name="token" type="password" placeholder="ADMIN_TOKEN" spellcheck={false} />
        <button type="submit" id="load-stats">
          Load stats
        </button>
        <button type="button" id="forget-token" class="secondary">
          Forget
        </button>
      </form>
      <p id="stats-message" class="message" role="status" aria-live="polite" />
      <div id="stats" hidden />
    </section>
  );
}

const CSS = `
:root{--bg:#f6f7f9;--fg:#1c2430;--muted:#5b6676;--line:#dde2e8;--card:#fff;--accent:#f38020;--accent-ink:#b45309;--code-bg:#0f1722;--code-fg:#e6edf3;--ok:#15803d;--bad:#b91c1c}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9aa6b2;--line:#2a323d;--card:#151b23;--accent-ink:#fbbf77;--code-bg:#0a0f16}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
code,pre,input{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
code{font-size:.9em}
.wrap{max-width:1040px;margin:0 auto;padding:0 24px}
header{background:linear-gradient(135deg,#1b2838 0%,#243b55 100%);color:#fff;padding:40px 0 32px;border-bottom:4px solid var(--accent)}
.kicker{margin:0;text-transform:uppercase;letter-spacing:.08em;font-size:12px;color:#fbbf77;font-weight:600}
h1{margin:6px 0 10px;font-size:30px;line-height:1.2;word-break:break-all}
.lead{margin:0;max-width:720px;color:#d5dde8}
.facts{margin:18px 0 0;display:flex;flex-wrap:wrap;gap:8px}
.pill{display:inline-block;padding:3px 10px;border-radius:999px;background:rgba(255,255,255,.12);font-size:13px}
.pill code{color:#fff}
.pill.warn{background:rgba(243,128,32,.3)}
main{padding-bottom:8px}
section{margin:32px 0}
h2{font-size:20px;margin:0 0 6px}
.note{color:var(--muted);margin:6px 0 14px}
.note code,td code{background:rgba(127,140,160,.14);padding:1px 5px;border-radius:4px;color:var(--fg)}
.table{overflow-x:auto;border:1px solid var(--line);border-radius:10px;background:var(--card)}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:9px 14px;border-bottom:1px solid var(--line);vertical-align:top}
tbody tr:last-child td{border-bottom:0}
th{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);font-weight:600;background:rgba(127,140,160,.06)}
.num{text-align:right;white-space:nowrap}
td code.prefix{font-weight:600;background:none;padding:0}
td code.host{display:inline-block;margin:1px 0}
td code.url{white-space:nowrap}
.tag{display:inline-block;margin-left:6px;padding:0 7px;border-radius:999px;font-size:11px;line-height:18px;background:var(--accent);color:#fff;font-weight:600;vertical-align:1px}
.tag.muted{background:rgba(127,140,160,.2);color:var(--muted)}
.muted{color:var(--muted)}
.tabs{display:flex;flex-wrap:wrap;gap:4px;border-bottom:1px solid var(--line);margin:14px 0 16px}
.tabs button{appearance:none;border:0;background:none;color:var(--muted);font:inherit;font-weight:600;padding:8px 14px;border-bottom:3px solid transparent;margin-bottom:-1px;cursor:pointer;border-radius:6px 6px 0 0}
.tabs button:hover{color:var(--fg);background:rgba(127,140,160,.1)}
.tabs button[aria-selected=true]{color:var(--accent-ink);border-bottom-color:var(--accent)}
.js .panel-title{display:none}
.panel-title{font-size:16px;margin:24px 0 8px}
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:0 16px}
figure.snippet{margin:0 0 14px;border-radius:10px;overflow:hidden;border:1px solid #1f2a37;background:var(--code-bg);min-width:0}
figcaption{display:flex;align-items:center;gap:10px;padding:7px 8px 7px 14px;background:#19222e;color:#c9d3de;font-size:13px}
figcaption .file{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;flex:1;min-width:0;overflow-wrap:anywhere}
figcaption .lang{color:#8b98a8;font-size:12px;white-space:nowrap}
button{font:inherit}
button.copy{border:1px solid #3a4757;background:#243040;color:#e6edf3;border-radius:6px;padding:2px 12px;font-size:12px;cursor:pointer}
button.copy:hover{background:#2e3d51}
button.copy.done{background:var(--ok);border-color:var(--ok)}
pre{margin:0;padding:14px 16px;overflow-x:auto;color:var(--code-fg);font-size:13px;line-height:1.5}
pre code{font-size:inherit}
.admin-form{display:flex;flex-wrap:wrap;align-items:center;gap:8px}
.admin-form label{font-weight:600;margin-right:4px}
.admin-form input{flex:1;min-width:220px;max-width:420px;padding:7px 10px;border:1px solid var(--line);border-radius:6px;background:var(--card);color:var(--fg)}
.admin-form button{padding:7px 16px;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:#fff;font-weight:600;cursor:pointer}
.admin-form button.secondary{background:none;color:var(--muted);border-color:var(--line)}
.message{min-height:1.5em;margin:10px 0}
.message.error{color:var(--bad);font-weight:600}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin:0 0 18px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.card .label{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
.card .value{font-size:24px;font-weight:700;margin-top:2px}
.card .sub{font-size:13px;color:var(--muted)}
.bar{display:flex;height:8px;border-radius:4px;overflow:hidden;background:rgba(127,140,160,.2);margin-top:8px}
.bar span{display:block;height:100%}
#stats h3{font-size:15px;margin:18px 0 8px}
footer{color:var(--muted);font-size:13px;padding-top:8px;padding-bottom:32px;border-top:1px solid var(--line)}
@media (max-width:640px){.wrap{padding:0 14px}h1{font-size:24px}.pair{grid-template-columns:1fr}}
`;

/** The page's only script: tabs, copy buttons and the admin stats. Builds the stats with textContent only. */
const SCRIPT = `
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Tabs: without the script every panel simply shows, one after the other.
  var tabs = Array.prototype.slice.call(document.querySelectorAll('[role="tab"]'));
  function select(tab, focus) {
    tabs.forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      var panel = document.getElementById(t.getAttribute("aria-controls"));
      if (panel) panel.hidden = !on;
    });
    if (focus) tab.focus();
    if (history.replaceState) history.replaceState(null, "", "#" + tab.id.slice(4));
  }
  tabs.forEach(function (tab, i) {
    tab.addEventListener("click", function () { select(tab, false); });
    tab.addEventListener("keydown", function (e) {
      var d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
      if (d) { e.preventDefault(); select(tabs[(i + d + tabs.length) % tabs.length], true); }
    });
  });
  var wanted = tabs.filter(function (t) { return "#" + t.id.slice(4) === location.hash; })[0];
  if (tabs.length) select(wanted || tabs[0], false);

  // Copy buttons.
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }
  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("button[data-copy]") : null;
    if (!button) return;
    var code = button.closest("figure").querySelector("pre code");
    var text = code ? code.textContent : "";
    var copy = navigator.clipboard && window.isSecureContext
      ? navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); })
      : fallbackCopy(text);
    copy.then(function () {
      button.textContent = "Copied";
      button.classList.add("done");
    }, function () {
      button.textContent = "Select + Ctrl-C";
      var range = document.createRange();
      range.selectNodeContents(code);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    }).then(function () {
      setTimeout(function () { button.textContent = "Copy"; button.classList.remove("done"); }, 1600);
    });
  });

  // Admin stats.
  var KEY = "registry-mirror.admin-token";
  var form = document.getElementById("admin-form");
  var input = document.getElementById("admin-token");
  var message = document.getElementById("stats-message");
  var out = document.getElementById("stats");
  if (!form) return;
  try { input.value = sessionStorage.getItem(KEY) || ""; } catch (e) {}

  function say(text, error) {
    message.textContent = text;
    message.className = error ? "message error" : "message";
  }
  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = String(text);
    return n;
  }
  function num(n) { return typeof n === "number" && isFinite(n) ? n : 0; }
  function count(n) { return num(n).toLocaleString("en-US"); }
  function bytes(n) {
    n = num(n);
    var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + " " + units[i];
  }
  function pct(part, whole) { return whole > 0 ? Math.round((part / whole) * 1000) / 10 + "%" : "–"; }
  function card(label, value, sub) {
    var c = el("div", "card");
    c.appendChild(el("div", "label", label));
    c.appendChild(el("div", "value", value));
    if (sub) c.appendChild(el("div", "sub", sub));
    return c;
  }
  function bar(parts) {
    var total = parts.reduce(function (s, p) { return s + p[0]; }, 0);
    var b = el("div", "bar");
    if (total > 0) parts.forEach(function (p) {
      var s = el("span");
      s.style.width = (p[0] / total) * 100 + "%";
      s.style.background = p[1];
      s.title = p[2];
      b.appendChild(s);
    });
    return b;
  }
  function table(head, rows) {
    var wrap = el("div", "table");
    var t = el("table");
    var tr = el("tr");
    head.forEach(function (h, i) { tr.appendChild(el("th", i > 0 && h.num ? "num" : "", h.label)); });
    var thead = el("thead");
    thead.appendChild(tr);
    t.appendChild(thead);
    var tbody = el("tbody");
    rows.forEach(function (r) {
      var row = el("tr");
      r.forEach(function (v, i) { row.appendChild(el("td", head[i].num ? "num" : "", v)); });
      tbody.appendChild(row);
    });
    t.appendChild(tbody);
    wrap.appendChild(t);
    return wrap;
  }
  function render(s) {
    out.textContent = "";
    var req = s.requests || {};
    var byCache = req.byCache || {};
    var hit = num(byCache.HIT), miss = num(byCache.MISS), stale = num(byCache.STALE), reval = num(byCache.REVALIDATED);
    var classified = hit + miss + stale + reval;
    var b = s.bytes || {};
    var fromCache = num(b.fromCache), fromUpstream = num(b.fromUpstream);
    var storage = s.storage || {};
    var cards = el("div", "cards");
    var c1 = card("Requests", count(req.total), count(req.errors) + " errors");
    cards.appendChild(c1);
    var c2 = card("From cache", pct(hit + stale + reval, classified),
      "hit " + count(hit) + " · revalidated " + count(reval) + " · stale " + count(stale) + " · miss " + count(miss));
    c2.appendChild(bar([[hit, "#15803d", "HIT"], [reval, "#4ade80", "REVALIDATED"], [stale, "#f59e0b", "STALE"], [miss, "#94a3b8", "MISS"]]));
    cards.appendChild(c2);
    var c3 = card("Served from cache", bytes(fromCache), bytes(fromUpstream) + " fetched upstream");
    c3.appendChild(bar([[fromCache, "#15803d", "from cache"], [fromUpstream, "#94a3b8", "from upstream"]]));
    cards.appendChild(c3);
    cards.appendChild(card("Stored", bytes(storage.bytes), count(storage.blobs) + " blobs"));
    out.appendChild(cards);

    var ups = s.upstreams || {};
    var names = Object.keys(ups).sort();
    if (names.length) {
      out.appendChild(el("h3", "", "Upstream requests"));
      out.appendChild(table(
        [{ label: "Upstream" }, { label: "Token", num: true }, { label: "Manifest", num: true }, { label: "Blob", num: true },
         { label: "Other", num: true }, { label: "429s", num: true }, { label: "Rate limit (remaining / limit)" }],
        names.map(function (name) {
          var u = ups[name] || {};
          var r = u.requests || {};
          var rl = u.rateLimit;
          var limit = rl ? (rl.remaining || "?") + " / " + (rl.limit || "?") + (rl.seenAt ? " · " + new Date(rl.seenAt).toLocaleString() : "") : "–";
          return [name, count(r.token), count(r.manifest), count(r.blob), count(r.other), count(u.tooManyRequests), limit];
        })
      ));
    }
    var top = s.topRepositories || [];
    if (top.length) {
      out.appendChild(el("h3", "", "Top repositories"));
      out.appendChild(table([{ label: "Repository" }, { label: "Pulls", num: true }],
        top.map(function (t) { return [t.repository, count(t.pulls)]; })));
    }
    out.hidden = false;
    say("Counting since " + (s.since ? new Date(s.since).toLocaleString() : "the last reset") + ".", false);
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var token = input.value.trim();
    if (!token) { say("Enter the admin token first.", true); return; }
    try { sessionStorage.setItem(KEY, token); } catch (err) {}
    say("Loading…", false);
    fetch("/_/stats", { headers: { Authorization: "Bearer " + token, Accept: "application/json" }, cache: "no-store" })
      .then(function (res) {
        if (res.status === 401 || res.status === 403) {
          out.hidden = true;
          say("The mirror refused this admin token (" + res.status + "). Check ADMIN_TOKEN.", true);
          return;
        }
        if (res.status === 404) {
          out.hidden = true;
          say("No stats here (404): the admin endpoints are off until ADMIN_TOKEN is set.", true);
          return;
        }
        if (!res.ok) { say("The stats request failed: HTTP " + res.status + ".", true); return; }
        return res.json().then(render);
      })
      .catch(function (err) { say("The stats request failed: " + (err && err.message ? err.message : err) + ".", true); });
  });
  document.getElementById("forget-token").addEventListener("click", function () {
    try { sessionStorage.removeItem(KEY); } catch (e) {}
    input.value = "";
    out.hidden = true;
    out.textContent = "";
    say("Token forgotten.", false);
  });
  if (input.value) form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit", { cancelable: true }));
})();
`;
