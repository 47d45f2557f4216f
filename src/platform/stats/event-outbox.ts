import type { MirrorEvent, TagResolution } from "../../mirror/events";

/** A place events are delivered to: a webhook (by its URL) or the Queue binding. */
export interface EventTarget {
  /** The webhook's URL, or `queue`. */
  readonly id: string;
  /** The event types it wants; null = all. */
  readonly events: readonly string[] | null;
}

/** One delivery still to make: an event to one target. */
export interface Delivery {
  readonly id: number;
  readonly eventId: string;
  readonly type: string;
  readonly target: string;
  /** The event's JSON, exactly what is signed and sent. */
  readonly body: string;
  /** Attempts made before this one. */
  readonly attempts: number;
}

export interface TargetSummary {
  readonly target: string;
  readonly delivered: number;
  readonly retries: number;
  readonly failed: number;
  readonly pending: number;
  readonly lastStatus: string | null;
  readonly lastAttemptAt: string | null;
}

/** A delivery that failed this many times is given up (and counted as failed). */
export const MAX_ATTEMPTS = 8;
/** The first retry waits this long; each further one twice as long, at most `MAX_BACKOFF_MS`. */
export const FIRST_BACKOFF_MS = 30_000;
const MAX_BACKOFF_MS = 3600_000;
/**
 * An image.cached event waits this long before its first delivery: a client fetches an index and
 * then one of its children, and the child's event is dropped once the index's (which lists it) is in.
 */
export const SETTLE_MS = 2000;
/** Deliveries waiting at most; past it new events are dropped (counted), so a dead target cannot fill the object. */
export const MAX_PENDING_DELIVERIES = 10_000;
/** A refusal of the same digest by the same policy entry is told again only after this long (clients retry). */
export const REFUSAL_REPEAT_MS = 3600_000;
/** A tag resolved by a HEAD names the digest's image.cached event for this long. */
export const RESOLUTION_MS = 10 * 60_000;
/** The last events kept for `/_/stats`. */
const RECENT_EVENTS = 20;

/** How long the retry after `attempts` failed attempts waits. */
export function backoffMs(attempts: number): number {
  return Math.min(FIRST_BACKOFF_MS * 2 ** Math.max(0, attempts - 1), MAX_BACKOFF_MS);
}

/**
 * The stats object's record of events: which images were announced already (an image is announced
 * once per repository and digest), the deliveries still to make, with their attempts and when the
 * next one is due, each target's counts, and the last events.
 */
export class EventOutbox {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`
      CREATE TABLE IF NOT EXISTS event_seen (key TEXT PRIMARY KEY, at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS event_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, image_key TEXT, type TEXT NOT NULL,
        target TEXT NOT NULL, body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS event_outbox_due ON event_outbox (next_at);
      CREATE TABLE IF NOT EXISTS event_targets (
        target TEXT PRIMARY KEY, delivered INTEGER NOT NULL DEFAULT 0, retries INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0, last_status TEXT, last_at INTEGER);
      CREATE TABLE IF NOT EXISTS event_recent (id INTEGER PRIMARY KEY AUTOINCREMENT, image_key TEXT, body TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS event_resolutions (key TEXT PRIMARY KEY, tag TEXT NOT NULL, at INTEGER NOT NULL);
    `);
  }

  /**
   * Tags that clients resolved with a HEAD: the image.cached event of that digest, when it comes within
   * `RESOLUTION_MS` without a tag (fetched by digest), names it; one already waiting (not yet sent) is
   * given it too.
   */
  resolved(resolutions: readonly TagResolution[], now: number): void {
    this.sql.exec("DELETE FROM event_resolutions WHERE at < ?", now - RESOLUTION_MS);
    for (const resolution of resolutions) {
      const key = keyOf(resolution.upstream, resolution.repository, resolution.digest);
      this.sql.exec(
        "INSERT OR REPLACE INTO event_resolutions (key, tag, at) VALUES (?, ?, ?)",
        key,
        resolution.tag,
        now,
      );
      for (const table of ["event_outbox", "event_recent"] as const) {
        const rows = this.sql
          .exec<{ id: number; body: string }>(
            `SELECT id, body FROM ${table} WHERE image_key = ?${table === "event_outbox" ? " AND attempts = 0" : ""}`,
            key,
          )
          .toArray();
        for (const row of rows) {
          const event = JSON.parse(row.body) as MirrorEvent;
          if (event.type !== "image.cached" || event.tag !== null) continue;
          this.sql.exec(
            `UPDATE ${table} SET body = ? WHERE id = ?`,
            JSON.stringify({ ...event, tag: resolution.tag }),
            row.id,
          );
        }
      }
    }
  }

  /**
   * Takes events in: an image already announced for its repository is dropped, and so is one whose
   * index was announced (the index's event lists it), and a refusal told within the hour; each remaining event becomes one delivery per
   * target that wants it. Says how many events were taken and how many dropped for lack of room.
   */
  accept(
    events: readonly MirrorEvent[],
    targets: readonly EventTarget[],
    now: number,
  ): { accepted: number; dropped: number } {
    let accepted = 0;
    let dropped = 0;
    for (const event of events) {
      const imageKey =
        event.type === "image.cached" ? keyOf(event.upstream, event.repository, event.digest) : null;
      if (event.type === "image.cached" && imageKey) {
        if (this.seen(imageKey)) continue;
        this.sql.exec("INSERT OR IGNORE INTO event_seen (key, at) VALUES (?, ?)", imageKey, now);
        for (const child of event.platforms) {
          const childKey = keyOf(event.upstream, event.repository, child.digest);
          this.sql.exec("INSERT OR IGNORE INTO event_seen (key, at) VALUES (?, ?)", childKey, now);
          // A child announced just before its index (not yet sent) is covered by the index's event.
          this.sql.exec("DELETE FROM event_outbox WHERE image_key = ? AND attempts = 0", childKey);
          this.sql.exec("DELETE FROM event_recent WHERE image_key = ?", childKey);
        }
      }
      if (event.type === "policy.refused") {
        const key = `refused:${event.policy}:${keyOf(event.upstream, event.repository, event.digest)}`;
        const at = this.seenAt(key);
        if (at !== null && now - at < REFUSAL_REPEAT_MS) continue;
        this.sql.exec("INSERT OR REPLACE INTO event_seen (key, at) VALUES (?, ?)", key, now);
      }
      const wanted = targets.filter((target) => !target.events || target.events.includes(event.type));
      if (wanted.length > 0 && this.pending() + wanted.length > MAX_PENDING_DELIVERIES) {
        dropped++;
        continue;
      }
      const body = JSON.stringify(this.withTag(event, imageKey, now));
      const firstAt = event.type === "image.cached" ? now + SETTLE_MS : now;
      for (const target of wanted) {
        this.sql.exec(
          "INSERT INTO event_outbox (event_id, image_key, type, target, body, next_at) VALUES (?, ?, ?, ?, ?, ?)",
          event.id,
          imageKey,
          event.type,
          target.id,
          body,
          firstAt,
        );
      }
      this.sql.exec("INSERT INTO event_recent (image_key, body) VALUES (?, ?)", imageKey, body);
      accepted++;
    }
    this.sql.exec(
      "DELETE FROM event_recent WHERE id <= (SELECT MAX(id) FROM event_recent) - ?",
      RECENT_EVENTS,
    );
    return { accepted, dropped };
  }

  /** The deliveries due now, oldest first. */
  due(now: number, limit: number): Delivery[] {
    return this.sql
      .exec<{ id: number; event_id: string; type: string; target: string; body: string; attempts: number }>(
        "SELECT id, event_id, type, target, body, attempts FROM event_outbox WHERE next_at <= ? ORDER BY next_at, id LIMIT ?",
        now,
        limit,
      )
      .toArray()
      .map((row) => ({
        id: row.id,
        eventId: row.event_id,
        type: row.type,
        target: row.target,
        body: row.body,
        attempts: row.attempts,
      }));
  }

  /**
   * Counted before the attempt is made, with its retry already set: an alarm cut off mid-delivery
   * (deploy, eviction) retries later instead of never, and never more than `MAX_ATTEMPTS` times.
   * False when the delivery has had all its attempts (the last was cut off): it is given up, failed.
   */
  attempting(delivery: Delivery, now: number): boolean {
    if (delivery.attempts >= MAX_ATTEMPTS) {
      this.finish(delivery, "failed", "cut off", now);
      return false;
    }
    this.sql.exec(
      "UPDATE event_outbox SET attempts = attempts + 1, next_at = ? WHERE id = ?",
      now + backoffMs(delivery.attempts + 1),
      delivery.id,
    );
    return true;
  }

  delivered(delivery: Delivery, status: string, now: number): void {
    this.finish(delivery, "delivered", status, now);
  }

  /** A failed attempt: retried later, or given up (counted as failed) after `MAX_ATTEMPTS`. Says which. */
  failed(delivery: Delivery, status: string, now: number): "retry" | "failed" {
    if (delivery.attempts + 1 >= MAX_ATTEMPTS) {
      this.finish(delivery, "failed", status, now);
      return "failed";
    }
    this.count(delivery.target, "retries", status, now);
    return "retry";
  }

  /** A delivery whose target is no longer configured: dropped, counted nowhere but the log. */
  forget(delivery: Delivery): void {
    this.sql.exec("DELETE FROM event_outbox WHERE id = ?", delivery.id);
  }

  /** When the next delivery is due; null when none waits. */
  next(): number | null {
    return (
      this.sql.exec<{ at: number | null }>("SELECT MIN(next_at) AS at FROM event_outbox").toArray()[0]?.at ??
      null
    );
  }

  pending(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM event_outbox").one().n;
  }

  /** A purged repository is announced again when it is cached again. */
  forgetRepository(upstream: string, repository: string): void {
    const prefix = `${upstream}/${repository}@`;
    this.sql.exec(
      "DELETE FROM event_seen WHERE key >= ? AND key < ?",
      prefix,
      `${prefix.slice(0, -1)}A`, // '@' + 1
    );
  }

  targets(): TargetSummary[] {
    const pending = new Map(
      this.sql
        .exec<{ target: string; n: number }>("SELECT target, COUNT(*) AS n FROM event_outbox GROUP BY target")
        .toArray()
        .map((row) => [row.target, row.n]),
    );
    const rows = this.sql
      .exec<{
        target: string;
        delivered: number;
        retries: number;
        failed: number;
        last_status: string | null;
        last_at: number | null;
      }>("SELECT target, delivered, retries, failed, last_status, last_at FROM event_targets ORDER BY target")
      .toArray();
    const summaries = rows.map((row) => ({
      target: row.target,
      delivered: row.delivered,
      retries: row.retries,
      failed: row.failed,
      pending: pending.get(row.target) ?? 0,
      lastStatus: row.last_status,
      lastAttemptAt: row.last_at === null ? null : new Date(row.last_at).toISOString(),
    }));
    for (const [target, count] of pending) {
      if (!summaries.some((summary) => summary.target === target))
        summaries.push({
          target,
          delivered: 0,
          retries: 0,
          failed: 0,
          pending: count,
          lastStatus: null,
          lastAttemptAt: null,
        });
    }
    return summaries;
  }

  recent(): MirrorEvent[] {
    return this.sql
      .exec<{ body: string }>("SELECT body FROM event_recent ORDER BY id DESC")
      .toArray()
      .map((row) => JSON.parse(row.body) as MirrorEvent);
  }

  /** An image.cached event fetched by digest takes the tag a client resolved to it just before. */
  private withTag(event: MirrorEvent, imageKey: string | null, now: number): MirrorEvent {
    if (event.type !== "image.cached" || event.tag !== null || !imageKey) return event;
    const tag = this.sql
      .exec<{ tag: string }>(
        "SELECT tag FROM event_resolutions WHERE key = ? AND at >= ?",
        imageKey,
        now - RESOLUTION_MS,
      )
      .toArray()[0]?.tag;
    return tag ? { ...event, tag } : event;
  }

  private seen(key: string): boolean {
    return this.seenAt(key) !== null;
  }

  private seenAt(key: string): number | null {
    return (
      this.sql.exec<{ at: number }>("SELECT at FROM event_seen WHERE key = ?", key).toArray()[0]?.at ?? null
    );
  }

  private finish(delivery: Delivery, outcome: "delivered" | "failed", status: string, now: number): void {
    this.sql.exec("DELETE FROM event_outbox WHERE id = ?", delivery.id);
    this.count(delivery.target, outcome, status, now);
  }

  private count(
    target: string,
    column: "delivered" | "retries" | "failed",
    status: string,
    now: number,
  ): void {
    this.sql.exec(
      `INSERT INTO event_targets (target, ${column}, last_status, last_at) VALUES (?, 1, ?, ?)
       ON CONFLICT(target) DO UPDATE SET ${column} = ${column} + 1, last_status = excluded.last_status, last_at = excluded.last_at`,
      target,
      status.slice(0, 200),
      now,
    );
  }
}

function keyOf(upstream: string, repository: string, digest: string): string {
  return `${upstream}/${repository}@${digest}`;
}
