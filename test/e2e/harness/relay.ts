// A TCP relay in front of `wrangler dev`. skopeo and podman try HTTPS first even with TLS
// verification off; wrangler's plain-HTTP listener accepts the TLS ClientHello and never answers,
// so each client connection would stall ~10 s before falling back. The relay closes a connection
// whose first byte is 0x16 (TLS handshake record) at once and pipes plain HTTP through unchanged.
import { connect, createServer, type Server, type Socket } from "node:net";
import { HOST, listenLoopback } from "./net.ts";

export interface Relay {
  port: number;
  server: Server;
  stats: { connections: number; tlsRejected: number };
  close(): Promise<void>;
}

export async function startRelay(targetPort: number): Promise<Relay> {
  const stats = { connections: 0, tlsRejected: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    stats.connections++;
    sockets.add(client);
    client.once("close", () => sockets.delete(client));
    client.once("error", () => client.destroy());
    client.setTimeout(120_000, () => client.destroy());
    client.once("data", (first: Buffer) => {
      if (first[0] === 0x16) {
        stats.tlsRejected++;
        client.destroy();
        return;
      }
      client.pause();
      const upstream = connect(targetPort, HOST, () => {
        upstream.write(first);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      sockets.add(upstream);
      upstream.once("close", () => {
        sockets.delete(upstream);
        client.destroy();
      });
      upstream.once("error", () => client.destroy());
      client.once("close", () => upstream.destroy());
    });
  });
  const port = await listenLoopback(server);
  return {
    port,
    server,
    stats,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
