/** Top clients are counted over this long. */
const SPENDERS_MS = 24 * 3600_000;
const HOUR_MS = 3600_000;
/** Clients reported over budget in one answer at most. */
const MAX_OVER = 1000;

export interface TopClient {
  readonly client: string;
  readonly kind: "user" | "ip" | "mirror";
  /** Counted upstream requests in the last 24 hours. */
  readonly requests: number;
  /** Bytes stored from fills the client hung up on, in the last 24 hours. */
  readonly abandonedBytes: number;
  /** The same in the current clock hour: what its budget (CLIENT_BUDGET_*) is measured against. */
  readonly thisHour: { readonly requests: number; readonly abandonedBytes: number };
}

/**
 * Who caused counted upstream requests (Docker Hub's quota), and stored bytes by hanging up on fills,
 * per hour over the last day: the top spenders, and the clients over their hourly budget everywhere.
 */
export class SpendersTable {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(
      "CREATE TABLE IF NOT EXISTS spenders (client TEXT NOT NULL, hour INTEGER NOT NULL, requests INTEGER NOT NULL, PRIMARY KEY (client, hour))",
    );
    // Tables made before the byte budget have no bytes column.
    const columns = sql.exec<{ name: string }>("PRAGMA table_info(spenders)").toArray();
    if (!columns.some((column) => column.name === "bytes"))
      sql.exec("ALTER TABLE spenders ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0");
  }

  /**
   * Client (`user:<name>`, `ip:<address>`, `warm-up`) → counted upstream requests it caused, and →
   * bytes of fills it hung up on.
   */
  record(
    spenders: Readonly<Record<string, number>>,
    now: number,
    abandoned: Readonly<Record<string, number>> = {},
  ): void {
    const hour = now - (now % HOUR_MS);
    const add = (client: string, requests: number, bytes: number) =>
      this.sql.exec(
        "INSERT INTO spenders (client, hour, requests, bytes) VALUES (?, ?, ?, ?) ON CONFLICT(client, hour) DO UPDATE SET requests = requests + excluded.requests, bytes = bytes + excluded.bytes",
        client.slice(0, 200),
        hour,
        requests,
        bytes,
      );
    for (const [client, requests] of Object.entries(spenders)) add(client, requests, 0);
    for (const [client, bytes] of Object.entries(abandoned)) add(client, 0, bytes);
    if (Object.keys(spenders).length + Object.keys(abandoned).length > 0)
      this.sql.exec("DELETE FROM spenders WHERE hour <= ?", now - SPENDERS_MS);
  }

  /** Clients at or over a limit (0 = none) in the current hour, across every isolate's reports. */
  over(limits: { readonly requests: number; readonly bytes: number }, now: number) {
    const hour = now - (now % HOUR_MS);
    const clients = (column: "requests" | "bytes", limit: number) =>
      limit <= 0
        ? []
        : this.sql
            .exec<{ client: string }>(
              `SELECT client FROM spenders WHERE hour = ? AND ${column} >= ? LIMIT ?`,
              hour,
              limit,
              MAX_OVER,
            )
            .toArray()
            .map((row) => row.client);
    return { requests: clients("requests", limits.requests), bytes: clients("bytes", limits.bytes) };
  }

  /** The `top` clients of the last day, most requests first (then most bytes). */
  top(top: number, now: number): TopClient[] {
    const hour = now - (now % HOUR_MS);
    return this.sql
      .exec<{ client: string; requests: number; bytes: number; hourRequests: number; hourBytes: number }>(
        "SELECT client, SUM(requests) AS requests, SUM(bytes) AS bytes, SUM(CASE WHEN hour = ? THEN requests ELSE 0 END) AS hourRequests, SUM(CASE WHEN hour = ? THEN bytes ELSE 0 END) AS hourBytes FROM spenders WHERE hour > ? GROUP BY client ORDER BY requests DESC, bytes DESC, client LIMIT ?",
        hour,
        hour,
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
          abandonedBytes: row.bytes,
          thisHour: { requests: row.hourRequests, abandonedBytes: row.hourBytes },
        };
      });
  }
}
