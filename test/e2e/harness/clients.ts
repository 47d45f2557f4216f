// Real registry clients, run as the suite's child processes with private configuration:
// skopeo (copy to a `dir:` layout, which keeps manifests byte for byte), containerd's `ctr` against
// a private containerd, and podman with private registries.conf / storage.
import { createHash } from "node:crypto";
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fetchT, GiveUp, waitFor } from "./net.ts";
import { type Managed, onExit, type RunResult, run, startProcess } from "./processes.ts";
import type { SkopeoEnv } from "./skopeo-env.ts";

export interface PulledDir {
  /** Digest of the top manifest (index / list or the single manifest). */
  top: string;
  /** Per-platform manifests stored next to a list (`<hex>.manifest.json`), when copied with --all. */
  instances: string[];
  /** Blob digests found in the directory, each checked against its content. */
  blobs: string[];
}

function fileDigest(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(path)
      .on("data", (c) => h.update(c))
      .on("end", () => resolve(`sha256:${h.digest("hex")}`))
      .on("error", reject);
  });
}

/** Reads a skopeo `dir:` destination and verifies every blob's bytes against its name. */
export async function readDir(dir: string): Promise<PulledDir> {
  const top = `sha256:${createHash("sha256")
    .update(readFileSync(join(dir, "manifest.json")))
    .digest("hex")}`;
  const instances: string[] = [];
  const blobs: string[] = [];
  for (const f of readdirSync(dir)) {
    if (/^[a-f0-9]{64}\.manifest\.json$/.test(f)) instances.push(`sha256:${f.slice(0, 64)}`);
    else if (/^[a-f0-9]{64}$/.test(f)) {
      const d = await fileDigest(join(dir, f));
      if (d !== `sha256:${f}`) throw new Error(`${dir}/${f}: content digest is ${d}`);
      blobs.push(d);
    }
  }
  return { top, instances: instances.sort(), blobs: blobs.sort() };
}

export interface SkopeoCopy {
  /** `host:port/path/name:tag` without `docker://`. */
  ref: string;
  dest: string;
  all?: boolean;
  creds?: string;
  extra?: string[];
  timeoutMs?: number;
}

export function skopeoCopy(env: SkopeoEnv, c: SkopeoCopy): Promise<RunResult> {
  const args = ["copy", "--src-tls-verify=false", "--retry-times", "0"];
  if (c.all) args.push("--all");
  if (c.creds) args.push("--src-creds", c.creds);
  args.push(...(c.extra ?? []), `docker://${c.ref}`, c.dest);
  return run("skopeo", args, { env: env.env, timeoutMs: c.timeoutMs ?? 120_000 });
}

export function skopeoInspectRaw(env: SkopeoEnv, ref: string, extra: string[] = []): Promise<RunResult> {
  return run("skopeo", ["inspect", "--raw", "--tls-verify=false", ...extra, `docker://${ref}`], {
    env: env.env,
    timeoutMs: 60_000,
  });
}

// ---------------------------------------------------------------- containerd

export interface Containerd {
  socket: string;
  hostsDir: string;
  process: Managed;
  ctr(args: string[], timeoutMs?: number): Promise<RunResult>;
  stop(): Promise<void>;
}

/**
 * A private containerd: root, state and socket under `dir` (keep it short, sockets are limited to
 * 108 bytes), CRI and the snapshotters that need special file systems disabled.
 */
export async function startContainerd(dir: string, logFile: string): Promise<Containerd> {
  mkdirSync(dir, { recursive: true });
  const socket = join(dir, "c.sock");
  const config = join(dir, "config.toml");
  writeFileSync(
    config,
    [
      "version = 2",
      `root = ${JSON.stringify(join(dir, "root"))}`,
      `state = ${JSON.stringify(join(dir, "state"))}`,
      "disabled_plugins = [",
      '  "io.containerd.grpc.v1.cri",',
      '  "io.containerd.snapshotter.v1.btrfs",',
      '  "io.containerd.snapshotter.v1.zfs",',
      '  "io.containerd.snapshotter.v1.aufs",',
      '  "io.containerd.snapshotter.v1.devmapper",',
      "]",
      "[grpc]",
      `  address = ${JSON.stringify(socket)}`,
      "[ttrpc]",
      `  address = ${JSON.stringify(join(dir, "t.sock"))}`,
      "[debug]",
      '  address = ""',
      "[metrics]",
      '  address = ""',
      "",
    ].join("\n"),
  );
  const proc = startProcess("containerd", "containerd", ["--config", config], { logFile });
  const ctr = (args: string[], timeoutMs = 120_000): Promise<RunResult> =>
    run("ctr", ["--address", socket, "--namespace", "e2e", ...args], { timeoutMs });
  await waitFor(
    "containerd to answer `ctr version`",
    async () => {
      if (proc.child.exitCode !== null) throw new GiveUp(`containerd exited: ${proc.output()}`);
      if (!existsSync(socket)) return undefined;
      const r = await ctr(["version"], 5000);
      return r.code === 0 ? true : undefined;
    },
    20_000,
    200,
  );
  const forget = onExit(() => rmSync(dir, { recursive: true, force: true }));
  return {
    socket,
    hostsDir: join(dir, "certs.d"),
    process: proc,
    ctr,
    async stop() {
      await proc.stop();
      // containerd's root holds read-only snapshot dirs; remove the lot when it is gone.
      rmSync(dir, { recursive: true, force: true });
      forget();
    },
  };
}

/**
 * hosts.toml for `registry`: the primary server is a dead port (nothing may leave the machine) and
 * the mirror is `http://<mirror>/<path>`. With override_path (path `v2/<prefix>`) containerd sends
 * `/v2/<prefix>/<name>/...`; without it (path `<prefix>`) `/<prefix>/v2/<name>/...`. Either way it
 * appends `?ns=<registry>`.
 */
export function writeHostsToml(
  hostsDir: string,
  registry: string,
  deadPort: number,
  mirrorHost: string,
  path: string,
  overridePath: boolean,
): void {
  const dir = join(hostsDir, registry);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "hosts.toml"),
    [
      `server = "http://127.0.0.1:${deadPort}"`,
      "",
      `[host."http://${mirrorHost}/${path}"]`,
      '  capabilities = ["pull", "resolve"]',
      `  override_path = ${overridePath}`,
      "",
    ].join("\n"),
  );
}

// ---------------------------------------------------------------- podman

export interface Podman {
  env: NodeJS.ProcessEnv;
  run(args: string[], timeoutMs?: number): Promise<RunResult>;
}

/** podman with private storage (vfs), config and registries.conf: nothing touches /var/lib/containers. */
export function makePodman(dir: string, base: SkopeoEnv): Podman {
  const storageConf = join(dir, "storage.conf");
  mkdirSync(join(dir, "root"), { recursive: true });
  mkdirSync(join(dir, "runroot"), { recursive: true });
  writeFileSync(
    storageConf,
    [
      "[storage]",
      'driver = "vfs"',
      `graphroot = ${JSON.stringify(join(dir, "root"))}`,
      `runroot = ${JSON.stringify(join(dir, "runroot"))}`,
      "",
    ].join("\n"),
  );
  const containersConf = join(dir, "containers.conf");
  writeFileSync(
    containersConf,
    [
      "[engine]",
      'events_logger = "none"',
      'cgroup_manager = "cgroupfs"',
      `tmp_dir = ${JSON.stringify(join(dir, "tmp"))}`,
      `volume_path = ${JSON.stringify(join(dir, "volumes"))}`,
      "",
    ].join("\n"),
  );
  const env: NodeJS.ProcessEnv = {
    ...base.env,
    CONTAINERS_STORAGE_CONF: storageConf,
    CONTAINERS_CONF: containersConf,
  };
  return {
    env,
    run: (args, timeoutMs = 120_000) => run("podman", args, { env, timeoutMs }),
  };
}

/** The registries.conf block that sends `prefix`'s pulls to `<mirror>/<path>` (primary: dead port). */
export function registriesConfMirror(
  registry: string,
  deadPort: number,
  mirrorHost: string,
  path: string,
): string {
  return [
    "[[registry]]",
    `prefix = ${JSON.stringify(registry)}`,
    `location = "127.0.0.1:${deadPort}"`,
    "insecure = true",
    "",
    "[[registry.mirror]]",
    `location = ${JSON.stringify(`${mirrorHost}/${path}`)}`,
    "insecure = true",
    "",
  ].join("\n");
}

/** Plain HTTP GET/HEAD through the mirror with a timeout (for the forms no client produces). */
export function mirrorFetch(url: string, init: RequestInit = {}): Promise<Response> {
  return fetchT(url, init, 120_000);
}

/** The digest an `oci:` layout's index.json points to for `tag`. */
export function ociLayoutTop(dir: string, tag: string): string | undefined {
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  return index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag)?.digest;
}
