/** Top clients are counted over this long. */
const SPENDERS_MS = 24 * 3600_000;
const HOUR_MS = 3600_000;

export interface TopClient {
  readonly client: string;
  readonly kind: "user" | "ip" | "mirror";
  readonly requests: number;
}

/** Who caused counted upstream requests (Docker Hub's quota), per hour over the last day. */
export class SpendersTable {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(
      "CREATE TABLE IF NOT EXISTS spenders (client TEXT NOT NULL, hour INTEGER NOT NULL, requests INTEGER NOT NULL, PRIMARY KEY (client, hour))",
    );
  }

  /** Client (`user:<name>`, `ip:<address>`, `warm-up`) → counted upstream requests it caused. */
  record(spenders: Readonly<Record<string, number>>, now: number): void {
    const hour = now - (now % HOUR_MS);
    for (const [client, requests] of Object.entries(spenders)) {
      this.sql.exec(
        "INSERT INTO spenders (client, hour, requests) VALUES (?, ?, ?) ON CONFLICT(client, hour) DO UPDATE SET requests = requests + excluded.requests",
        client.slice(0, 200),
        hour,
        requests,
      );
    }
    if (Object.keys(spenders).length > 0)
      this.sql.exec("DELETE FROM spenders WHERE hour <= ?", now - SPENDERS_MS);
  }

  /** The `top` clients of the last day, most requests first. */
  top(top: number, now: number): TopClient[] {
    return this.sql
      .exec<{ client: string; requests: number }>(
        "SELECT client, SUM(requests) AS requests FROM spenders WHERE hour > ? GROUP BY client ORDER BY requests DESC, client LIMIT ?",
        now - SPENDERS_MS,
        Math.max(1, Math.min(top, 100)),
      )
      .toArray()
      .map((row) => {
        const colon = row.client.indexOf(":");
        const kind = row.client.startsWith("user:") ? "user" : row.client.startsWith("ip:") ? "ip" : "mirror";
        return {
          client: kind === "mirror" ? row.client : row.client.slice(colon + 1),
          kind,
          requests: row.requests,
        };
      });
  }
}
