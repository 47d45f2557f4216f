/**
 * The tables a fill object's spools keep their rows in, one per spool (`chunks_<id>`; `chunks` by
 * versions before tables per spool), and which of them this object instance's spools still use.
 */
const TABLES = "(name = 'chunks' OR name GLOB 'chunks_*')";

/**
 * Tables of the spools not dropped yet, per object instance (its SQL storage; an instance that replaces
 * one in the same isolate has its own): clearing what spools left never touches rows a reader may
 * still read (a slow client of a download that is over, after the sweep alarm or after the next
 * download of the digest started).
 */
const inUse = new WeakMap<SqlStorage, Set<string>>();
let made = 0;

/** A name no table has had in this isolate (and, with the time in it, in any earlier one). */
export function freshTable(): string {
  made++;
  return `chunks_${Date.now().toString(36)}_${made.toString(36)}`;
}

/** A spool of this instance uses `table`: clearing keeps it. */
export function useTable(sql: SqlStorage, table: string): void {
  let tables = inUse.get(sql);
  if (!tables) {
    tables = new Set();
    inUse.set(sql, tables);
  }
  tables.add(table);
}

/** The spool no longer uses `table` (dropped, or never to be read here). */
export function leaveTable(sql: SqlStorage, table: string): void {
  inUse.get(sql)?.delete(table);
}

/** The spools' tables in this object's storage. */
export function spoolTables(sql: SqlStorage): string[] {
  return sql
    .exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND ${TABLES}`)
    .toArray()
    .map((row) => String(row.name));
}

/** Makes a spool's empty table. */
export function createSpoolTable(sql: SqlStorage, table: string): void {
  // A leftover of the same name (an earlier isolate's, at the same millisecond) is not ours to append to.
  sql.exec(`DROP TABLE IF EXISTS "${table}"`);
  sql.exec(`CREATE TABLE "${table}" (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)`);
}

/** Drops the spools' tables (and rows) except those this instance's spools still use; how many it kept. */
export function clearSpoolTables(sql: SqlStorage): number {
  let kept = 0;
  const used = inUse.get(sql);
  for (const table of spoolTables(sql)) {
    if (used?.has(table)) kept++;
    else sql.exec(`DROP TABLE IF EXISTS "${table}"`);
  }
  return kept;
}

/** Rows in the spools' tables, every spool's. */
export function spoolRowsLeft(sql: SqlStorage): number {
  let rows = 0;
  for (const table of spoolTables(sql))
    rows += Number(sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM "${table}"`).one().n);
  return rows;
}
