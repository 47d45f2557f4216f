// Test files run in a vitest worker process, the test bed lives in the main process (globalSetup).
// This tiny loopback API lets tests read and reset the upstream request counts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Counts, LoggedRequest, RequestCounter } from "./counting.ts";
import type { Fault, FaultTable } from "./faults.ts";
import type { HubQuota, QuotaSettings } from "./lookalikes.ts";
import { fetchT, HOST, listenLoopback } from "./net.ts";
import type { Relay } from "./relay.ts";

export interface AdminServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export interface AdminSources {
  counter: RequestCounter;
  faults: FaultTable;
  relay: Relay | undefined;
  hubQuota: HubQuota;
  mirrorOutput(): string;
}

export async function startAdmin(src: AdminSources): Promise<AdminServer> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", `http://${HOST}`);
    if (req.method === "POST" && url.pathname === "/faults") {
      return readJson(req, res, (value) => src.faults.add(value as Fault));
    }
    if (req.method === "POST" && url.pathname === "/hub-quota") {
      return readJson(req, res, (value) => src.hubQuota.set(value as QuotaSettings | null));
    }
    let body: unknown;
    if (url.pathname === "/hub-quota") {
      body = src.hubQuota.state();
    } else if (req.method === "DELETE" && url.pathname === "/faults") {
      src.faults.clear();
      body = { ok: true };
    } else if (req.method === "POST" && url.pathname === "/reset") {
      src.counter.reset();
      body = { ok: true };
    } else if (url.pathname === "/counts") {
      body = src.counter.all();
    } else if (url.pathname === "/requests") {
      body = src.counter.requests(url.searchParams.get("upstream") ?? undefined);
    } else if (url.pathname === "/relay") {
      body = src.relay?.stats ?? null;
    } else if (url.pathname === "/mirror-log") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(src.mirrorOutput());
      return;
    } else {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  });
  const port = await listenLoopback(server);
  return {
    url: `http://${HOST}:${port}`,
    server,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** Reads a request's JSON body, hands it on, and answers 204. */
function readJson(req: IncomingMessage, res: ServerResponse, take: (value: unknown) => void): void {
  let text = "";
  req.setEncoding("utf8");
  req.on("data", (c: string) => {
    text += c;
  });
  req.on("end", () => {
    take(JSON.parse(text));
    res.writeHead(204);
    res.end();
  });
}

/** Client side, used from the tests. */
export class AdminClient {
  private readonly url: string;

  constructor(url: string) {
    this.url = url;
  }

  async reset(): Promise<void> {
    await (await fetchT(`${this.url}/reset`, { method: "POST" })).arrayBuffer();
  }

  async counts(): Promise<Record<string, Counts>> {
    return (await (await fetchT(`${this.url}/counts`)).json()) as Record<string, Counts>;
  }

  async requests(upstream?: string): Promise<LoggedRequest[]> {
    const q = upstream ? `?upstream=${encodeURIComponent(upstream)}` : "";
    return (await (await fetchT(`${this.url}/requests${q}`)).json()) as LoggedRequest[];
  }

  async relayStats(): Promise<{ connections: number; tlsRejected: number } | null> {
    return (await (await fetchT(`${this.url}/relay`)).json()) as {
      connections: number;
      tlsRejected: number;
    } | null;
  }

  /** Makes one upstream misbehave until clearFaults(). */
  async addFault(fault: Fault): Promise<void> {
    const res = await fetchT(`${this.url}/faults`, { method: "POST", body: JSON.stringify(fault) });
    await res.arrayBuffer();
  }

  async clearFaults(): Promise<void> {
    await (await fetchT(`${this.url}/faults`, { method: "DELETE" })).arrayBuffer();
  }

  /** Gives the Hub look-alike a pull quota per identity (null: none), counting from zero. */
  async setHubQuota(settings: QuotaSettings | null): Promise<void> {
    const res = await fetchT(`${this.url}/hub-quota`, { method: "POST", body: JSON.stringify(settings) });
    await res.arrayBuffer();
  }

  /** The Hub look-alike's counted manifest GETs per identity. */
  async hubQuota(): Promise<{ settings: QuotaSettings | null; used: Record<string, number> }> {
    return (await (await fetchT(`${this.url}/hub-quota`)).json()) as {
      settings: QuotaSettings | null;
      used: Record<string, number>;
    };
  }

  async mirrorLog(): Promise<string> {
    return (await fetchT(`${this.url}/mirror-log`)).text();
  }
}
