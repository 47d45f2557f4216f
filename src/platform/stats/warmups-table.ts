import type { WarmImage } from "../../config/warm-images";

/** Deferred warm-ups come back no sooner than this, and no later than this. */
const MIN_WARM_DELAY_MS = 60_000;
const MAX_WARM_DELAY_MS = 6 * 3600_000;

/** Warm-ups that stopped to spare the quota reserve, and when they go on. */
export class WarmupsTable {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(
      "CREATE TABLE IF NOT EXISTS deferred_warmups (image TEXT PRIMARY KEY, target TEXT NOT NULL, resume_at INTEGER NOT NULL)",
    );
  }

  /** Keeps the targets to go on at `resumeAt`, bounded to a minute to six hours away; says when. */
  defer(targets: readonly WarmImage[], resumeAt: number, now: number): number {
    const at = Math.min(Math.max(resumeAt, now + MIN_WARM_DELAY_MS), now + MAX_WARM_DELAY_MS);
    for (const target of targets) {
      this.sql.exec(
        "INSERT OR REPLACE INTO deferred_warmups (image, target, resume_at) VALUES (?, ?, ?)",
        target.image,
        JSON.stringify(target),
        at,
      );
    }
    return at;
  }

  /** Takes the warm-ups that are due (they are deferred again if they stop again). */
  takeDue(now: number): WarmImage[] {
    const due = this.sql
      .exec<{ image: string; target: string }>(
        "SELECT image, target FROM deferred_warmups WHERE resume_at <= ?",
        now,
      )
      .toArray();
    for (const row of due) this.sql.exec("DELETE FROM deferred_warmups WHERE image = ?", row.image);
    return due.map((row) => JSON.parse(row.target) as WarmImage);
  }

  /** When the next one is due; null when none waits. */
  next(): number | null {
    const at = this.sql
      .exec<{ at: number | null }>("SELECT MIN(resume_at) AS at FROM deferred_warmups")
      .toArray()[0]?.at;
    return at ?? null;
  }

  list(): Array<{ image: string; resumeAt: string }> {
    return this.sql
      .exec<{ image: string; resume_at: number }>(
        "SELECT image, resume_at FROM deferred_warmups ORDER BY resume_at, image LIMIT 100",
      )
      .toArray()
      .map((row) => ({ image: row.image, resumeAt: new Date(row.resume_at).toISOString() }));
  }
}
