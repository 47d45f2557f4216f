// The mirror exactly as a user runs it: `wrangler dev` from the repository root, with `--var`
// overrides pointing UPSTREAMS at the local registries and fresh local state (R2, KV) per run.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fetchT, freePort, GiveUp, HOST, waitFor } from "./net.ts";
import { cleanEnv, type Managed, onExit, startProcess } from "./processes.ts";

export interface UpstreamConfig {
  url: string;
  library?: boolean;
  hosts?: string[];
  tagTtl?: number;
  /** Seconds past tagTtl a cached tag may be served while the upstream is in trouble. */
  maxStale?: number;
  /** Seconds to wait for the upstream's response headers. */
  timeout?: number;
  /** Anyone may pull through this upstream's credentials (no client authentication in front). */
  shareCredentials?: boolean;
  /** Repository patterns (upstream names) that may be pulled; all when absent. */
  allow?: string[];
  /** Repository patterns that may never be pulled. */
  deny?: string[];
  /** Token realm hosts outside the upstream's own domain that may get its credentials. */
  authHosts?: string[];
  /** Percent of each account's pull quota kept in reserve. */
  quotaReserve?: number;
}

export interface MirrorOptions {
  repoRoot: string;
  upstreams: Record<string, UpstreamConfig>;
  defaultUpstream: string;
  credentials: Record<string, { username: string; password: string }>;
  /** Further `--var NAME:value` settings (e.g. MULTIPART_THRESHOLD). */
  vars?: Record<string, string>;
  logFile: string;
  /**
   * Statuses of `GET /v2/` that mean the Worker is up (default 200). A mirror with MIRROR_USERS answers
   * 401 there.
   */
  readyStatuses?: number[];
  /** Further `wrangler dev` flags (e.g. `--test-scheduled`, which serves `GET /__scheduled?cron=…`). */
  extraArgs?: string[];
}

export interface Mirror {
  port: number;
  url: string;
  persistDir: string;
  process: Managed;
  stop(): Promise<void>;
}

/** `my-prefix` → `UPSTREAM_MY_PREFIX` (upper case, every non-alphanumeric character → `_`). */
export function credentialVar(prefix: string, field: "USERNAME" | "PASSWORD"): string {
  return `UPSTREAM_${prefix.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_${field}`;
}

export function wranglerArgs(opts: MirrorOptions, port: number, persistDir: string): string[] {
  const args = [
    "dev",
    "--ip",
    HOST,
    "--port",
    String(port),
    "--persist-to",
    persistDir,
    "--var",
    `UPSTREAMS:${JSON.stringify(opts.upstreams)}`,
    "--var",
    `DEFAULT_UPSTREAM:${opts.defaultUpstream}`,
    // A suite pulls from one address far more than one client's hourly budget (a spec's `vars` may set
    // it lower); the budgets have their own specs (test/http/spending-budget.test.ts).
    "--var",
    "CLIENT_BUDGET_REQUESTS:100000",
  ];
  for (const [name, value] of Object.entries(opts.vars ?? {})) args.push("--var", `${name}:${value}`);
  for (const [prefix, c] of Object.entries(opts.credentials)) {
    args.push("--var", `${credentialVar(prefix, "USERNAME")}:${c.username}`);
    args.push("--var", `${credentialVar(prefix, "PASSWORD")}:${c.password}`);
  }
  args.push(...(opts.extraArgs ?? []));
  return args;
}

export async function startMirror(opts: MirrorOptions): Promise<Mirror> {
  const persistDir = mkdtempSync(join(tmpdir(), "e2e-mirror-state-"));
  const forget = onExit(() => rmSync(persistDir, { recursive: true, force: true }));
  const port = await freePort();
  // Current wrangler needs Node >= 22: use the `node` devDependency's binary whatever PATH says.
  const node = join(opts.repoRoot, "node_modules", ".bin", "node");
  const wrangler = join(opts.repoRoot, "node_modules", "wrangler", "bin", "wrangler.js");
  const proc = startProcess(
    "wrangler-dev",
    existsSync(node) ? node : process.execPath,
    [wrangler, ...wranglerArgs(opts, port, persistDir)],
    {
      cwd: opts.repoRoot,
      env: cleanEnv({
        WRANGLER_SEND_METRICS: "false",
        CLOUDFLARE_CF_FETCH_ENABLED: "false",
        CI: "1",
        NO_UPDATE_NOTIFIER: "1",
        FORCE_COLOR: "0",
      }),
      logFile: opts.logFile,
      keepChars: 256 * 1024,
    },
  );
  const url = `http://${HOST}:${port}`;
  try {
    await waitFor(
      "wrangler dev to answer GET /v2/",
      async () => {
        if (proc.child.exitCode !== null) throw new GiveUp(`wrangler exited ${proc.child.exitCode}`);
        // A build error does not end `wrangler dev` (it waits for the next file change).
        if (/Build failed|✘ \[ERROR\] (?:Could not|No loader|Expected)/.test(proc.output())) {
          throw new GiveUp("wrangler could not build the Worker");
        }
        if (!proc.output().includes("Ready on")) return undefined;
        const res = await fetchT(`${url}/v2/`, {}, 5000);
        await res.arrayBuffer();
        return (opts.readyStatuses ?? [200]).includes(res.status) ? true : undefined;
      },
      90_000,
      250,
    );
  } catch (err) {
    await proc.stop();
    rmSync(persistDir, { recursive: true, force: true });
    throw new Error(`${String(err)}\n--- wrangler output\n${proc.output()}`);
  }
  return {
    port,
    url,
    persistDir,
    process: proc,
    async stop() {
      await proc.stop(5000);
      rmSync(persistDir, { recursive: true, force: true });
      forget();
    },
  };
}

/**
 * The Worker's structured log lines (`{"time":…,"event":…}`, one JSON object a line) in wrangler's
 * output, optionally only those of one event. Lines that do not parse are skipped.
 */
export function logEvents(output: string, event?: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of output.split(/\r?\n/)) {
    const start = line.indexOf('{"time":');
    if (start < 0) continue;
    try {
      const entry = JSON.parse(line.slice(start)) as Record<string, unknown>;
      if (event === undefined || entry.event === event) out.push(entry);
    } catch {
      // Cut by the output limit, or not one of the Worker's lines.
    }
  }
  return out;
}
