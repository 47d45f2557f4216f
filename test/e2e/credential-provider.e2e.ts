// The kubelet credential provider shipped in scripts/kubernetes (KEP-4412): run as the kubelet runs
// it, a CredentialProviderRequest on stdin, its CredentialProviderResponse on stdout. (A unit test of
// the script; it lives with the e2e suite because it runs a process, which the Workers pool cannot.)
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bed } from "./harness/context.ts";
import { run } from "./harness/processes.ts";

const root = bed().repoRoot;
const PROVIDER = join(root, "scripts", "kubernetes", "mirror-credential-provider");
const CONFIG = join(root, "scripts", "kubernetes", "credential-provider-config.yaml");

/** An unsigned look-alike of a projected service-account token: the script reads only its exp. */
function serviceAccountToken(expiresIn: number): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    aud: ["https://mirror.example.com"],
    exp: now + expiresIn,
    iat: now,
    iss: "https://kubernetes.default.svc.cluster.local",
    sub: "system:serviceaccount:builds:puller",
    "kubernetes.io": { namespace: "builds", serviceaccount: { name: "puller", uid: "0b1f" } },
  };
  return `${part({ alg: "RS256", kid: "k1" })}.${part(payload)}.${Buffer.from("signature").toString("base64url")}`;
}

function request(token: string | null, extra: Record<string, unknown> = {}) {
  return JSON.stringify(
    {
      apiVersion: "credentialprovider.kubelet.k8s.io/v1",
      kind: "CredentialProviderRequest",
      image: "mirror.example.com:8443/dockerhub/library/nginx:1.27",
      ...(token === null ? {} : { serviceAccountToken: token }),
      serviceAccountAnnotations: { "example.com/team": "builds" },
      ...extra,
    },
    null,
    2, // the kubelet's JSON may come on several lines
  );
}

interface Response {
  apiVersion: string;
  kind: string;
  cacheKeyType: string;
  cacheDuration: string;
  auth: Record<string, { username: string; password: string }>;
}

/** Runs the provider with `stdin` as its standard input, as the kubelet does. */
function provide(stdin: string) {
  const file = join(mkdtempSync(join(bed().workDir, "kcp-")), "request.json");
  writeFileSync(file, stdin);
  return run("sh", ["-c", `${PROVIDER} < "$0"`, file], { timeoutMs: 10_000 });
}

describe("mirror-credential-provider", () => {
  it("answers user oidc with the pod's token for the image's registry, cached until a minute before it expires", async () => {
    const token = serviceAccountToken(600);
    const r = await provide(request(token));
    expect(r.code, r.stderr).toBe(0);
    const answer = JSON.parse(r.stdout) as Response;
    expect(answer).toMatchObject({
      apiVersion: "credentialprovider.kubelet.k8s.io/v1",
      kind: "CredentialProviderResponse",
      cacheKeyType: "Registry",
      auth: { "mirror.example.com:8443": { username: "oidc", password: token } },
    });
    const seconds = Number(/^(\d+)s$/.exec(answer.cacheDuration)?.[1]);
    expect(seconds).toBeGreaterThan(530);
    expect(seconds).toBeLessThanOrEqual(540);
  });

  it("is not cached at all when the token has less than a minute left", async () => {
    const r = await provide(request(serviceAccountToken(30)));
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as Response).cacheDuration).toBe("0s");
  });

  it("answers in the request's API version", async () => {
    const r = await provide(
      request(serviceAccountToken(600), { apiVersion: "credentialprovider.kubelet.k8s.io/v1beta1" }),
    );
    expect((JSON.parse(r.stdout) as Response).apiVersion).toBe("credentialprovider.kubelet.k8s.io/v1beta1");
  });

  it("takes the request's own token and image, not look-alikes in the annotations", async () => {
    const token = serviceAccountToken(600);
    const r = await provide(
      request(token, {
        serviceAccountAnnotations: {
          serviceAccountToken: "a.b.c",
          image: "evil.example.com/x",
          note: 'say "serviceAccountToken":"x.y.z", please',
        },
      }),
    );
    const answer = JSON.parse(r.stdout) as Response;
    expect(Object.keys(answer.auth)).toEqual(["mirror.example.com:8443"]);
    expect(answer.auth["mirror.example.com:8443"]?.password).toBe(token);
  });

  it("fails, saying why, without a service-account token or for something that is no request", async () => {
    const none = await provide(request(null));
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain("tokenAttributes");
    expect(none.stdout).toBe("");
    const other = await provide('{"apiVersion":"v1","kind":"Pod"}');
    expect(other.code).not.toBe(0);
  });

  it("ships with a CredentialProviderConfig that runs it per token, for the mirror's audience", () => {
    const config = readFileSync(CONFIG, "utf8");
    expect(config).toContain("kind: CredentialProviderConfig");
    expect(config).toMatch(/- name: mirror-credential-provider\n/);
    expect(config).toContain('serviceAccountTokenAudience: "https://mirror.example.com"');
    expect(config).toContain('cacheType: "Token"');
    expect(config).toContain("requireServiceAccount: true");
  });
});
