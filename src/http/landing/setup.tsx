/** The client set-up tabs of the landing page: one copy-paste snippet per client, this mirror's host filled in. */
import type { Child } from "hono/jsx";
import type { Ctx } from "./context";
import { BuildKitSetup, GitHubSetup } from "./setup-builds";
import { OidcSetup } from "./setup-oidc";
import { ContainerdSetup, DockerSetup, K3sSetup, PodmanSetup } from "./setup-runtimes";

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
  if (ctx.oidcIssuers?.length) {
    tabs.push({ id: "oidc", label: "CI & Kubernetes identity", body: <OidcSetup ctx={ctx} /> });
  }
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
