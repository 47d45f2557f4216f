/** What the landing page's parts share: the render context and how upstreams and images are named. */
import type { LandingPageInput } from "./page";

export type Upstream = LandingPageInput["upstreams"][number];

export interface Ctx extends LandingPageInput {
  /** The mirror is reached over plain HTTP (local `wrangler dev`): clients must be told so. */
  insecure: boolean;
}

/** "5 min", "1 h", "90 s"; 0 means every pull of a tag asks the upstream. */
export function ttl(seconds: number): string {
  if (seconds <= 0) return "always revalidate";
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** A double-quoted string for JSON, TOML and YAML alike. */
export const q = (s: string) => JSON.stringify(s);

/** The registry host clients name the upstream by (the directory containerd looks up, the key of mirrors). */
export function registryHost(u: Upstream): string {
  if (u.hosts[0]) return u.hosts[0];
  try {
    return new URL(u.url).host;
  } catch {
    return u.prefix;
  }
}

/** The upstream Docker's `registry-mirrors` serves: Docker Hub, i.e. the default, else a `library` one. */
export function dockerHub(ctx: Ctx): Upstream | undefined {
  return (
    ctx.upstreams.find((u) => u.prefix === ctx.defaultUpstream) ??
    ctx.upstreams.find((u) => u.hosts.includes("docker.io")) ??
    ctx.upstreams.find((u) => u.library)
  );
}

export function exampleRepository(u: Upstream | undefined): string {
  return !u || u.library ? "library/alpine:latest" : "<repository>:<tag>";
}

/** An image named through the mirror, e.g. `mirror.example/dockerhub/library/alpine:latest`. */
export function mirrorImage(ctx: Ctx, u: Upstream | undefined): string {
  return `${ctx.host}/${u?.prefix ?? "<prefix>"}/${exampleRepository(u)}`;
}

/** An image as the client names it without the mirror, e.g. `docker.io/library/alpine:latest`. */
export function exampleImage(u: Upstream | undefined): string {
  return `${u ? registryHost(u) : "docker.io"}/${exampleRepository(u)}`;
}
