// Child processes of the test bed: each runs in its own process group so that stopping it also stops
// whatever it spawned (wrangler → workerd). Every child is tracked so that an exiting test runner,
// even after a failure or Ctrl-C, kills them all by PID.
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";

export interface Managed {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything the process wrote to stdout and stderr so far (kept for error messages). */
  output(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<number | null>;
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<Managed>();
let hooksInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

const exitCleanups = new Set<() => void>();

/** Registers synchronous clean-up (temp dirs) for an exit that skips the normal teardown. */
export function onExit(fn: () => void): () => void {
  installHooks();
  exitCleanups.add(fn);
  return () => exitCleanups.delete(fn);
}

/** Synchronous last resort: 'exit' handlers cannot wait, so SIGKILL every group still alive. */
export function killAllNow(): void {
  for (const m of live) killGroup(m.pid, "SIGKILL");
  live.clear();
  for (const fn of exitCleanups) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
  exitCleanups.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", killAllNow);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      killAllNow();
      process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
    });
  }
}

export interface StartOptions extends Pick<SpawnOptions, "cwd" | "env"> {
  /** Append the process output to this file as well (for post-mortems). */
  logFile?: string;
  /** Keep at most this many characters of output in memory. */
  keepChars?: number;
}

export function startProcess(
  name: string,
  command: string,
  args: string[],
  opts: StartOptions = {},
): Managed {
  installHooks();
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true, // own process group, see killGroup
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const pid = child.pid;
  const keep = opts.keepChars ?? 64 * 1024;
  let out = "";
  const log: WriteStream | undefined = opts.logFile
    ? createWriteStream(opts.logFile, { flags: "a" })
    : undefined;
  const collect = (chunk: Buffer): void => {
    out += chunk.toString("utf8");
    if (out.length > keep) out = out.slice(out.length - keep);
    log?.write(chunk);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code));
    child.once("error", (err) => {
      out += `\n[spawn error] ${err.message}`;
      resolve(-1);
    });
  });
  const managed: Managed = {
    name,
    child,
    pid,
    output: () => out,
    exited,
    async stop(graceMs = 3000) {
      if (!live.has(managed)) return;
      killGroup(pid, "SIGTERM");
      const timer = setTimeout(() => killGroup(pid, "SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
      // Grandchildren that ignored SIGTERM (workerd) share the group: make sure they are gone too.
      killGroup(pid, "SIGKILL");
      live.delete(managed);
      log?.end();
    },
  };
  live.add(managed);
  void exited.then(() => {
    // The leader is gone, but its group may not be; stop() or killAllNow() still cleans that up.
  });
  return managed;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((m) => m.stop()));
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command to completion with a hard timeout (the whole process group is killed on expiry). */
export function run(
  command: string,
  args: string[],
  opts: Pick<SpawnOptions, "cwd" | "env"> & { timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  installHooks();
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (c: Buffer) => {
      stdout += c.toString("utf8");
    });
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString("utf8");
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    const pid = child.pid;
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${timeoutMs} ms]`;
      if (pid !== undefined) killGroup(pid, "SIGKILL");
    }, timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      resolve({
        code: -1,
        stdout,
        stderr: `${stderr}\n[spawn error] ${err.message}`,
        ms: Date.now() - started,
      });
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** run() that throws with the full output when the command fails. */
export async function runOk(
  command: string,
  args: string[],
  opts: Parameters<typeof run>[2] = {},
): Promise<RunResult> {
  const r = await run(command, args, opts);
  if (r.code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} exited ${r.code} after ${r.ms} ms\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
    );
  }
  return r;
}

/** Environment for children without the variables that change their behaviour behind our back. */
export function cleanEnv(extra: Record<string, string> = {}, dropPrefixes: string[] = []): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (dropPrefixes.some((p) => k.startsWith(p))) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}
