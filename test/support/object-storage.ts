import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";

/** What a digest's fill object keeps in its storage: its tables (SQLite's and the platform's left out), rows, bytes. */
export interface ObjectStorage {
  readonly tables: string[];
  readonly rows: number;
  /** SQLite's own count of the database's bytes (pages), as the platform bills them. */
  readonly bytes: number;
}

export function fillObject(digest: string): DurableObjectStub {
  return env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(digest));
}

export function objectStorage(stub: DurableObjectStub): Promise<ObjectStorage> {
  return runInDurableObject(stub, (_instance, state) => {
    const sql = state.storage.sql;
    const tables = sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'",
      )
      .toArray()
      .map((row) => row.name);
    let rows = 0;
    for (const table of tables) rows += Number(sql.exec(`SELECT COUNT(*) AS n FROM "${table}"`).one().n);
    return { tables, rows, bytes: sql.databaseSize };
  });
}
