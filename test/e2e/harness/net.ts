// Loopback networking helpers: free ports and bounded polling.
import { createServer, type Server } from "node:net";

export const HOST = "127.0.0.1";

/** A port that was free a moment ago (the kernel picks it). Small race, callers retry on bind errors. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A port where nothing listens: clients pointed at it fail fast (used as a dead "primary" registry). */
export const deadPort = freePort;

export function listenLoopback(server: Server | import("node:http").Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, HOST, () => {
      const addr = server.address();
      resolve(typeof addr === "object" && addr ? addr.port : port);
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Thrown by a probe to stop waiting at once (the process being waited for has died). */
export class GiveUp extends Error {
  override name = "GiveUp";
}

/**
 * Polls `probe` until it returns a value, or throws after `timeoutMs` with the last error.
 * A probe that throws GiveUp ends the wait immediately.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      last = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/** fetch with a hard timeout (every request of the harness is bounded). */
export function fetchT(url: string, init: RequestInit = {}, timeoutMs = 30_000): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
}
