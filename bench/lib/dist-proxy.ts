// CNCF distribution (`docker-registry` 2.8) in pull-through proxy mode: the peer a user would run
// instead of the mirror. Fresh storage per start, so every start is a cold cache.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fetchT, freePort, GiveUp, HOST, waitFor } from "../../test/e2e/harness/net.ts";
import { cleanEnv, type Managed, onExit, startProcess } from "../../test/e2e/harness/processes.ts";
import { REGISTRY_BIN } from "../../test/e2e/harness/registry.ts";

export interface DistProxy {
  url: string;
  host: string;
  process: Managed;
  stop(): Promise<void>;
}

function configYaml(storage: string, port: number, remoteUrl: string): string {
  return [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(storage)}`,
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: ${HOST}:${port}`,
    `  secret: ${randomBytes(16).toString("hex")}`,
    "proxy:",
    `  remoteurl: ${JSON.stringify(remoteUrl)}`,
    "",
  ].join("\n");
}

export async function startDistProxy(
  remoteUrl: string,
  workDir: string,
  logFile: string,
): Promise<DistProxy> {
  mkdirSync(workDir, { recursive: true });
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const storage = mkdtempSync(join(workDir, "dist-storage-"));
    const forget = onExit(() => rmSync(storage, { recursive: true, force: true }));
    const port = await freePort();
    const configFile = join(storage, "..", `${storage.split("/").pop()}.yml`);
    writeFileSync(configFile, configYaml(storage, port, remoteUrl));
    // distribution reads every REGISTRY_* variable as a config override.
    const proc = startProcess("dist-proxy", REGISTRY_BIN, ["serve", configFile], {
      env: cleanEnv({}, ["REGISTRY_"]),
      logFile,
    });
    const url = `http://${HOST}:${port}`;
    const stop = async (): Promise<void> => {
      await proc.stop();
      rmSync(storage, { recursive: true, force: true });
      rmSync(configFile, { force: true });
      forget();
    };
    try {
      await waitFor(
        `distribution proxy on ${url}`,
        async () => {
          if (proc.child.exitCode !== null) throw new GiveUp(`exited: ${proc.output()}`);
          const res = await fetchT(`${url}/v2/`, {}, 2000);
          await res.arrayBuffer();
          return res.status === 200 ? true : undefined;
        },
        15_000,
      );
      return { url, host: `${HOST}:${port}`, process: proc, stop };
    } catch (err) {
      lastError = err;
      await stop();
    }
  }
  throw new Error(`could not start the distribution proxy: ${String(lastError)}`);
}
