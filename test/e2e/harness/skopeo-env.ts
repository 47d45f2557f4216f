// A private configuration for the containers/image tools (skopeo, podman): no system
// registries.conf, no auth file, temporary files under the test bed's work dir.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv } from "./processes.ts";

export interface SkopeoEnv {
  dir: string;
  registriesConf: string;
  env: NodeJS.ProcessEnv;
}

export function makeContainersEnv(dir: string, registriesConf = ""): SkopeoEnv {
  mkdirSync(join(dir, "tmp"), { recursive: true });
  const conf = join(dir, "registries.conf");
  writeFileSync(conf, `unqualified-search-registries = []\n${registriesConf}`);
  const auth = join(dir, "auth.json");
  writeFileSync(auth, JSON.stringify({ auths: {} }));
  return {
    dir,
    registriesConf: conf,
    env: cleanEnv(
      {
        CONTAINERS_REGISTRIES_CONF: conf,
        REGISTRY_AUTH_FILE: auth,
        TMPDIR: join(dir, "tmp"),
        XDG_RUNTIME_DIR: join(dir, "run"),
        XDG_CONFIG_HOME: join(dir, "config"),
      },
      ["CONTAINERS_", "REGISTRY_AUTH_FILE", "DOCKER_CONFIG"],
    ),
  };
}
