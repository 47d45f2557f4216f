import { describe, expect, it } from "vitest";
import { type LandingPageInput, renderLandingPage } from "../../src/http/landing/page";

const HOST = "mirror.example.workers.dev";

const input = (over: Partial<LandingPageInput> = {}): LandingPageInput => ({
  origin: `https://${HOST}`,
  host: HOST,
  upstreams: [
    {
      prefix: "dockerhub",
      url: "https://registry-1.docker.io",
      hosts: ["docker.io", "registry-1.docker.io", "index.docker.io"],
      library: true,
      tagTtl: 300,
    },
    { prefix: "quay", url: "https://quay.io", hosts: ["quay.io"], library: false, tagTtl: 3600 },
    { prefix: "ghcr", url: "https://ghcr.io", hosts: ["ghcr.io"], library: false, tagTtl: 0 },
  ],
  defaultUpstream: "dockerhub",
  authRequired: false,
  ...over,
});

/** The text of each snippet of a kind (`data-kind`), HTML entities decoded as a browser would. */
function snippets(html: string, kind: string): string[] {
  const re = new RegExp(
    `<figure class="snippet" data-kind="${kind}">[\\s\\S]*?<code>([\\s\\S]*?)</code>`,
    "g",
  );
  return [...html.matchAll(re)].map((m) => decode(m[1] ?? ""));
}

function decode(s: string): string {
  return s
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&#39;", "'")
    .replaceAll("&amp;", "&");
}

describe("landing page", () => {
  it("is a whole HTML document naming the mirror", () => {
    const html = renderLandingPage(input());
    expect(html.startsWith("<!doctype html><html")).toBe(true);
    expect(html).toContain(`<title>Registry mirror · ${HOST}</title>`);
    expect(html).toContain("</html>");
  });

  it("lists every upstream with its URL, hosts and tag TTL", () => {
    const html = renderLandingPage(input());
    for (const u of input().upstreams) {
      const row = html.match(new RegExp(`<tr data-prefix="${u.prefix}">([\\s\\S]*?)</tr>`))?.[1] ?? "";
      expect(row, u.prefix).toContain(u.url);
      for (const h of u.hosts) expect(row).toContain(h);
    }
    expect(html).toMatch(/data-prefix="dockerhub">[\s\S]*?default[\s\S]*?5 min/);
    expect(html).toMatch(/data-prefix="quay">[\s\S]*?1 h/);
    expect(html).toMatch(/data-prefix="ghcr">[\s\S]*?always revalidate/);
  });

  it("fills this mirror's host into every kind of snippet", () => {
    const html = renderLandingPage(input());
    const docker = snippets(html, "docker");
    expect(docker).toHaveLength(1);
    expect(JSON.parse(docker[0] ?? "")).toEqual({ "registry-mirrors": [`https://${HOST}`] });
    expect(html).toContain(`https://${HOST}/dockerhub`); // the Docker ≥ 25 path form
    expect(snippets(html, "docker-pull")[0]).toContain(`docker pull ${HOST}/`);

    const containerd = snippets(html, "containerd");
    expect(containerd).toHaveLength(3);
    expect(containerd[1]).toBe(
      `server = "https://quay.io"\n\n[host."https://${HOST}/quay"]\n  capabilities = ["pull", "resolve"]`,
    );
    const override = snippets(html, "containerd-override");
    expect(override).toHaveLength(3);
    expect(override[0]).toContain(`[host."https://${HOST}/v2/dockerhub"]`);
    expect(override[0]).toContain("override_path = true");
    const captions = html.replace(/<wbr\s*\/?>/g, ""); // file names may break after each slash
    expect(captions).toContain("/etc/containerd/certs.d/docker.io/hosts.toml");
    expect(captions).toContain("/etc/containerd/certs.d/quay.io/hosts.toml");

    const podman = snippets(html, "podman")[0] ?? "";
    expect(podman).toContain(`[[registry]]\nprefix = "quay.io"\nlocation = "quay.io"`);
    expect(podman).toContain(`[[registry.mirror]]\nlocation = "${HOST}/quay"`);
    expect(podman).not.toContain("insecure");

    const k3s = snippets(html, "k3s")[0] ?? "";
    expect(k3s).toContain(`mirrors:\n  "docker.io":\n    endpoint:\n      - "https://${HOST}"`);
    expect(k3s).toContain(`"ghcr.io":`);
    expect(k3s).not.toContain("configs:");

    const buildkit = snippets(html, "buildkit")[0] ?? "";
    expect(buildkit).toContain(`[registry."docker.io"]\n  mirrors = ["${HOST}/dockerhub"]`);

    const github = snippets(html, "github")[0] ?? "";
    expect(github).toContain("docker/setup-buildx-action");
    expect(github).toContain("buildkitd-config-inline: |");
    expect(github).toContain(`      [registry."quay.io"]\n        mirrors = ["${HOST}/quay"]`);
    expect(github).toContain(`{"registry-mirrors": ["https://${HOST}"]}`);
    expect(github).toContain("/etc/docker/daemon.json");
  });

  it("tells clients of a plain-HTTP mirror (wrangler dev) that it is insecure", () => {
    const html = renderLandingPage(input({ origin: "http://127.0.0.1:8787", host: "127.0.0.1:8787" }));
    expect(JSON.parse(snippets(html, "docker")[0] ?? "")).toEqual({
      "registry-mirrors": ["http://127.0.0.1:8787"],
      "insecure-registries": ["127.0.0.1:8787"],
    });
    expect(snippets(html, "podman")[0]).toContain('location = "127.0.0.1:8787/quay"\ninsecure = true');
    expect(snippets(html, "buildkit")[0]).toContain('[registry."127.0.0.1:8787"]\n  http = true');
    expect(snippets(html, "containerd")[0]).toContain('[host."http://127.0.0.1:8787/dockerhub"]');
  });

  it("uses Docker's path form when there is no default upstream", () => {
    const html = renderLandingPage(input({ defaultUpstream: null }));
    expect(JSON.parse(snippets(html, "docker")[0] ?? "")).toEqual({
      "registry-mirrors": [`https://${HOST}/dockerhub`],
    });
    expect(html).toContain("no default upstream");
  });

  it("shows the login commands only when authentication is required", () => {
    const open = renderLandingPage(input());
    expect(open).not.toMatch(/data-kind="[a-z]+-login"/);
    for (const command of [
      "docker login",
      "podman login",
      "skopeo inspect",
      "--creds",
      "ctr images pull",
      "--user",
    ]) {
      expect(open, command).not.toContain(command);
    }
    expect(open).toContain("anonymous pulls");

    const html = renderLandingPage(input({ authRequired: true }));
    expect(html).toContain("login required");
    expect(snippets(html, "docker-login")).toEqual([`docker login ${HOST}`]);
    expect(snippets(html, "buildkit-login")).toEqual([`docker login ${HOST}`]);
    const podman = snippets(html, "podman-login")[0] ?? "";
    expect(podman).toContain(`podman login ${HOST}`);
    expect(podman).toContain(
      `skopeo inspect --creds "$MIRROR_USER:$MIRROR_PASSWORD" docker://${HOST}/dockerhub/library/alpine:latest`,
    );
    expect(snippets(html, "containerd-login")[0]).toMatch(
      /^ctr images pull .*--user "\$MIRROR_USER:\$MIRROR_PASSWORD"/,
    );
    expect(snippets(html, "k3s")[0]).toContain(`configs:\n  "${HOST}":\n    auth:`);
    const github = snippets(html, "github")[0] ?? "";
    expect(github).toContain(`uses: docker/login-action@v3\n  with:\n    registry: ${HOST}`);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression
    expect(github).toContain("${{ secrets.MIRROR_PASSWORD }}");
    expect(html).toContain("~/.docker/config.json");
    expect(html).toContain("auth.json");
  });

  it("escapes hostile values everywhere", () => {
    const evil = `<script>alert(1)</script>`;
    const html = renderLandingPage({
      origin: `https://x${evil}`,
      host: `x"><img src=x onerror=alert(2)>`,
      upstreams: [
        {
          prefix: `p${evil}`,
          url: `https://u.example/"><script>alert(3)</script>`,
          hosts: [`h${evil}`],
          library: false,
          tagTtl: 60,
        },
      ],
      defaultUpstream: `d${evil}`,
      authRequired: true,
    });
    expect(html).not.toContain("<script>alert");
    expect(html).not.toContain("<img");
    expect(html).not.toMatch(/"><img|" onerror=/);
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    // The only script elements are the page's own one.
    expect(html.match(/<script\b/g)).toHaveLength(1);
  });

  it("says whether layers come from the data centre's cache, and how to get it on workers.dev", () => {
    const active = renderLandingPage(input({ coloCache: "active" }));
    expect(active).toContain("colo cache in use");
    const inactive = renderLandingPage(input({ coloCache: "inactive" }));
    expect(inactive).toContain("colo cache not in use");
    expect(inactive).toContain("the Cache API does nothing on *.workers.dev");
    expect(inactive).toContain("<code>routes</code>");
    const off = renderLandingPage(input({ coloCache: "off", host: "mirror.example.com" }));
    expect(off).toContain("COLO_CACHE_MAX_BYTES = 0");
  });

  it("shows each client's budget and the storage cap", () => {
    const html = renderLandingPage(
      input({ limits: { requests: 50, bytes: 5 * 1024 ** 3, storedBytes: 50_000_000_000 } }),
    );
    const limits = /<section id="limits">([\s\S]*?)<\/section>/.exec(html)?.[1] ?? "";
    expect(limits).toContain("<strong>50</strong> upstream requests");
    expect(limits).toContain("<strong>5 GiB</strong> of layer downloads left unfinished");
    expect(limits).toContain("capped at <strong>50 GB</strong>");
    expect(limits).toContain("IPv6 /64");
    const unlimited = renderLandingPage(input({ limits: { requests: 0, bytes: 0, storedBytes: null } }));
    expect(unlimited).toContain("No limit on the upstream requests");
    expect(unlimited).toContain("no size cap");
  });

  it("warns that docker login does not reach registry-mirrors pulls of a mirror that needs a login", () => {
    const note = (html: string) =>
      /<p class="note warn" id="docker-mirror-login">([\s\S]*?)<\/p>/.exec(html)?.[1];
    const login = note(renderLandingPage(input({ authRequired: true }))) ?? "";
    expect(login).toContain("index.docker.io");
    expect(login).toContain("Never store this mirror&#39;s password as your Docker Hub login");
    expect(login).toContain(`docker login ${HOST}`);
    expect(note(renderLandingPage(input({ authRequired: false })))).toBeUndefined();
  });

  it("says when the mirror runs the Workers Free plan profile, and what that gives up", () => {
    const free = renderLandingPage(input({ plan: "free" }));
    expect(free).toContain("Workers Free plan profile");
    expect(free).toContain("PLAN = &quot;free&quot;");
    expect(free).toContain("layers over 5 GiB are not cached");
    const paid = renderLandingPage(input({ plan: "paid" }));
    expect(paid).not.toContain("Workers Free plan");
  });

  it("lists the signature policy's entries when there is one, and says nothing of it otherwise", () => {
    expect(renderLandingPage(input())).not.toContain('id="signatures"');
    const html = renderLandingPage(
      input({
        signaturePolicy: [
          { repositories: ["dockerhub/library/*", "ghcr/acme/**"], mode: "enforce", keys: ["ecdsa-p256"] },
          {
            repositories: ["quay/**"],
            mode: "warn",
            keys: ["rsa", "keyless: https://github.com/acme/* (https://issuer.test)"],
          },
        ],
      }),
    );
    expect(html).toContain('id="signatures"');
    expect(html).toContain("<code>dockerhub/library/*</code> <code>ghcr/acme/**</code>");
    expect(html).toContain('<tr data-mode="enforce">');
    expect(html).toContain("rsa, keyless: https://github.com/acme/* (https://issuer.test)");
    expect(html).toContain("X-Mirror-Signature: unverified");
  });

  it("shows workload identity set-up (GitHub Actions, GitLab CI, Kubernetes) when OIDC issuers are trusted", () => {
    expect(renderLandingPage(input())).not.toContain('id="tab-oidc"');
    const html = renderLandingPage(
      input({
        authRequired: true,
        oidcIssuers: [
          {
            issuer: "https://token.actions.githubusercontent.com",
            audiences: ["https://mirror.example.com/gh"],
          },
          { issuer: "https://gitlab.example.com", audiences: ["https://mirror.example.com/gl"] },
          { issuer: "https://oidc.cluster.example.com", audiences: ["https://mirror.example.com/k8s"] },
        ],
      }),
    );
    expect(html).toContain('id="tab-oidc"');
    const [github = ""] = snippets(html, "oidc-github");
    expect(github).toContain('core.getIDToken("https://mirror.example.com/gh")');
    expect(github).toContain("username: oidc");
    expect(github).toContain(`registry: ${HOST}`);
    const [gitlab = ""] = snippets(html, "oidc-gitlab");
    expect(gitlab).toContain('aud: "https://mirror.example.com/gl"');
    expect(gitlab).toContain(`docker login ${HOST} -u oidc --password-stdin`);
    const [kubelet = ""] = snippets(html, "oidc-kubernetes");
    expect(kubelet).toContain('serviceAccountTokenAudience: "https://mirror.example.com/k8s"');
    expect(kubelet).toContain(`- "${HOST}"`);
    expect(kubelet).toContain('cacheType: "Token"');
    // The GitHub Actions tab logs in with the job's token too, instead of stored secrets.
    const [steps = ""] = snippets(html, "github");
    expect(steps).toContain("username: oidc");
    expect(steps).not.toContain("secrets.MIRROR_PASSWORD");
  });
});
