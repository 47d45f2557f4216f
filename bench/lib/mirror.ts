// startMirror from the e2e harness, plus extra `wrangler dev` flags (the CPU profile needs
// `--inspector-port`). Same fresh --persist-to directory per start, same clean-up.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Mirror, type MirrorOptions, wranglerArgs } from "../../test/e2e/harness/mirror.ts";
import { fetchT, freePort, GiveUp, HOST, waitFor } from "../../test/e2e/harness/net.ts";
import { cleanEnv, onExit, startProcess } from "../../test/e2e/harness/processes.ts";

export async function startMirrorWith(opts: MirrorOptions, extraArgs: string[]): Promise<Mirror> {
  const persistDir = mkdtempSync(join(tmpdir(), "bench-mirror-state-"));
  const forget = onExit(() => rmSync(persistDir, { recursive: true, force: true }));
  const port = await freePort();
  const node = join(opts.repoRoot, "node_modules", ".bin", "node");
  const wrangler = join(opts.repoRoot, "node_modules", "wrangler", "bin", "wrangler.js");
  const proc = startProcess(
    "wrangler-dev",
    existsSync(node) ? node : process.execPath,
    [wrangler, ...wranglerArgs(opts, port, persistDir), ...extraArgs],
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
  const stop = async (): Promise<void> => {
    await proc.stop(5000);
    rmSync(persistDir, { recursive: true, force: true });
    forget();
  };
  try {
    await waitFor(
      "wrangler dev to answer GET /v2/",
      async () => {
        if (proc.child.exitCode !== null) throw new GiveUp(`wrangler exited ${proc.child.exitCode}`);
        if (!proc.output().includes("Ready on")) return undefined;
        const res = await fetchT(`${url}/v2/`, {}, 5000);
        await res.arrayBuffer();
        return res.status === 200 ? true : undefined;
      },
      90_000,
      250,
    );
  } catch (err) {
    await stop();
    throw new Error(`${String(err)}\n--- wrangler output\n${proc.output()}`);
  }
  return { port, url, persistDir, process: proc, stop };
}
