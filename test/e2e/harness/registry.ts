// Upstream registries: Debian's CNCF distribution (`docker-registry`), several processes ("faces")
// sharing ONE filesystem storage, each with its own auth. Pushing through the anonymous face makes
// an image visible through every face.
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fetchT, freePort, GiveUp, HOST, waitFor } from "./net.ts";
import { cleanEnv, type Managed, runOk, startProcess } from "./processes.ts";

export const REGISTRY_BIN = "/usr/bin/docker-registry";

export type FaceAuth =
  | { kind: "anonymous" }
  | { kind: "basic"; htpasswdFile: string }
  | { kind: "token"; realm: string; service: string; issuer: string; rootCertBundle: string };

export interface Face {
  name: string;
  port: number;
  url: string;
  process: Managed;
}

function configYaml(storageDir: string, port: number, auth: FaceAuth): string {
  const lines = [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(storageDir)}`,
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: ${HOST}:${port}`,
    `  secret: ${randomBytes(16).toString("hex")}`,
  ];
  if (auth.kind === "basic") {
    lines.push(
      "auth:",
      "  htpasswd:",
      "    realm: e2e-basic",
      `    path: ${JSON.stringify(auth.htpasswdFile)}`,
    );
  } else if (auth.kind === "token") {
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${JSON.stringify(auth.realm)}`,
      `    service: ${JSON.stringify(auth.service)}`,
      `    issuer: ${JSON.stringify(auth.issuer)}`,
      `    rootcertbundle: ${JSON.stringify(auth.rootCertBundle)}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** bcrypt is the only htpasswd hash distribution accepts. */
export async function writeHtpasswd(file: string, user: string, pass: string): Promise<void> {
  await runOk("htpasswd", ["-Bbc", file, user, pass]);
}

export async function startFace(
  name: string,
  storageDir: string,
  workDir: string,
  auth: FaceAuth,
  logDir: string,
): Promise<Face> {
  mkdirSync(workDir, { recursive: true });
  let lastError: unknown;
  // The free port could be taken between probing and binding: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const configFile = join(workDir, `${name}.yml`);
    writeFileSync(configFile, configYaml(storageDir, port, auth));
    // distribution reads every REGISTRY_* variable as a config override (podman sets some).
    const proc = startProcess(`registry-${name}`, REGISTRY_BIN, ["serve", configFile], {
      env: cleanEnv({}, ["REGISTRY_"]),
      logFile: join(logDir, `registry-${name}.log`),
    });
    const url = `http://${HOST}:${port}`;
    try {
      await waitFor(
        `registry ${name} on ${url}`,
        async () => {
          if (proc.child.exitCode !== null) throw new GiveUp(`exited: ${proc.output()}`);
          const res = await fetchT(`${url}/v2/`, {}, 2000);
          await res.arrayBuffer();
          return res.status === 200 || res.status === 401 ? true : undefined;
        },
        15_000,
      );
      return { name, port, url, process: proc };
    } catch (err) {
      lastError = err;
      await proc.stop();
    }
  }
  throw new Error(`could not start registry ${name}: ${String(lastError)}`);
}
