import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { Spool } from "../../src/storage/spool";
import { foregroundCount } from "../../src/util/foreground";
import { heldBytes, limitHeldBytes } from "../../src/util/held-bytes";
import { pseudoRandomBytes } from "../support/fake-registry";

const MIB = 1024 * 1024;

/** Runs `body` with a fresh spool in a fill object's own storage (each test its own object). */
async function withSpool(
  size: number,
  body: (spool: Spool, idle: () => boolean) => Promise<void>,
): Promise<void> {
  const stub = env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(crypto.randomUUID()));
  await runInDurableObject(stub, async (_instance, state) => {
    let idle = false;
    const spool = Spool.create(state.storage.sql, size, false, () => {
      idle = true;
    });
    await body(spool, () => idle);
  });
}

/** Byte equality without a deep diff (which takes seconds for MiBs). */
function same(actual: Uint8Array | undefined, expected: Uint8Array): boolean {
  if (!actual || actual.byteLength !== expected.byteLength) return false;
  for (let index = 0; index < expected.byteLength; index++)
    if (actual[index] !== expected[index]) return false;
  return true;
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Resolves true if the promise settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), ms));
  return Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    timeout,
  ]);
}

describe("spool", () => {
  it("gives a reader every byte as it arrives, and the last chunk only once the bytes are verified", async () => {
    const bytes = pseudoRandomBytes(3 * MIB + 10, 1);
    await withSpool(bytes.length, async (spool) => {
      const reader = spool.reader().getReader();
      spool.append(bytes.slice(0, MIB));
      expect(same((await reader.read()).value, bytes.slice(0, MIB))).toBe(true);
      spool.append(bytes.slice(MIB, 3 * MIB));
      spool.append(bytes.slice(3 * MIB));
      expect(same((await reader.read()).value, bytes.slice(MIB, 2 * MIB))).toBe(true);
      expect(same((await reader.read()).value, bytes.slice(2 * MIB, 3 * MIB))).toBe(true);
      const last = reader.read();
      expect(await settlesWithin(last, 50)).toBe(false);
      spool.finish(true);
      expect(same((await last).value, bytes.slice(3 * MIB))).toBe(true);
      expect((await reader.read()).done).toBe(true);
    });
  });

  it("serves a range that starts and ends inside rows, ending it only after the verdict", async () => {
    const bytes = pseudoRandomBytes(2 * MIB + 500, 2);
    await withSpool(bytes.length, async (spool) => {
      const range = { start: MIB - 7, end: MIB + 9 };
      const ranged = collect(spool.reader({ range }));
      spool.append(bytes.slice(0, MIB));
      spool.append(bytes.slice(MIB, 2 * MIB));
      // All of the range is in, but nothing of the blob is verified yet.
      expect(await settlesWithin(ranged, 50)).toBe(false);
      spool.append(bytes.slice(2 * MIB));
      spool.finish(true, true); // held, as the fill holds it for its upload
      expect(same(await ranged, bytes.slice(range.start, range.end + 1))).toBe(true);
      const tail = await collect(spool.reader({ range: { start: bytes.length - 3, end: bytes.length - 1 } }));
      expect(same(tail, bytes.slice(-3))).toBe(true);
    });
  });

  it("breaks every reader off, never ending cleanly, when the bytes do not match the digest", async () => {
    const bytes = pseudoRandomBytes(MIB + 1, 3);
    await withSpool(bytes.length, async (spool) => {
      const whole = collect(spool.reader());
      const ranged = collect(spool.reader({ range: { start: 0, end: 9 } }));
      spool.append(bytes.slice(0, MIB));
      spool.append(bytes.slice(MIB));
      spool.finish(false);
      await expect(whole).rejects.toThrow(/do not match/);
      await expect(ranged).rejects.toThrow(/do not match/);
    });
  });

  it("lets a reader join after the download, reading back from storage what memory no longer holds", async () => {
    const bytes = pseudoRandomBytes(20 * MIB + 3, 4);
    await withSpool(bytes.length, async (spool) => {
      for (let offset = 0; offset < bytes.length; offset += MIB)
        spool.append(bytes.slice(offset, offset + MIB));
      spool.finish(true, true);
      expect(same(await collect(spool.reader()), bytes)).toBe(true);
    });
  });

  it("drops its rows once finished, released by the fill and left by every reader", async () => {
    const bytes = pseudoRandomBytes(1000, 5);
    await withSpool(bytes.length, async (spool, idle) => {
      const reader = spool.reader();
      spool.append(bytes);
      spool.finish(true, true);
      await collect(reader);
      expect(idle()).toBe(false); // the fill still holds it (its upload)
      spool.release();
      expect(idle()).toBe(true);
      expect(spool.disposed).toBe(true);
    });
  });

  it("lets a reader go with its last byte, for consumers that never ask for the end", async () => {
    const bytes = pseudoRandomBytes(MIB + 10, 6);
    await withSpool(bytes.length, async (spool, idle) => {
      const reader = spool.reader().getReader();
      spool.append(bytes.slice(0, MIB));
      spool.append(bytes.slice(MIB));
      spool.finish(true, true);
      spool.release();
      let received = 0;
      while (received < bytes.length) received += (await reader.read()).value?.byteLength ?? 0;
      // No read of the end: the rows go all the same.
      expect(idle()).toBe(true);
    });
  });
});

describe("the rows spools leave in the object's storage", () => {
  it("are cleared (the sweep, the next download) except a spool's that a slow reader still reads, whose rows go with that reader", async () => {
    // 20 rows, more than memory keeps: the reader reads most of them back from SQLite.
    const bytes = pseudoRandomBytes(20 * MIB + 5, 8);
    const stub = env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(crypto.randomUUID()));
    await runInDurableObject(stub, async (_instance, state) => {
      const sql = state.storage.sql;
      // What an evicted instance left: a table of rows no spool of this isolate reads.
      sql.exec("CREATE TABLE chunks_left (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)");
      sql.exec("INSERT INTO chunks_left (seq, data) VALUES (0, ?)", new Uint8Array(10).buffer);
      let idle = false;
      const spool = Spool.create(sql, bytes.length, false, () => {
        idle = true;
      });
      expect(Spool.left(sql)).toBe(0);
      const reader = spool.reader().getReader();
      for (let offset = 0; offset < bytes.length; offset += MIB)
        spool.append(bytes.slice(offset, offset + MIB));
      spool.finish(true);
      const first = await reader.read();
      // The download is over (stored): the sweep runs, then the digest's next download starts.
      expect(Spool.clear(sql)).toBe(1);
      const next = Spool.create(sql, 3, false, () => {});
      next.append(new Uint8Array([1, 2, 3]));
      expect(Spool.left(sql)).toBe(21 + 1);
      // The slow reader still gets every byte.
      const read: Uint8Array[] = [first.value as Uint8Array];
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) read.push(chunk.value);
      expect(same(new Uint8Array(await new Blob(read).arrayBuffer()), bytes)).toBe(true);
      // Its rows went with it; the next download's are all that is left, and only until it is over.
      expect(idle).toBe(true);
      expect(Spool.left(sql)).toBe(1);
      next.finish(true);
      expect(Spool.left(sql)).toBe(0);
      expect(Spool.clear(sql)).toBe(0);
    });
  });
});

describe("the spools an object's clearing keeps", () => {
  it("are its own: another object's table of the same name (one an earlier version left) is dropped", async () => {
    const [first, second] = [crypto.randomUUID(), crypto.randomUUID()].map((name) =>
      env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(name)),
    );
    for (const stub of [first, second]) {
      await runInDurableObject(stub as DurableObjectStub, (_instance, state) => {
        state.storage.sql.exec("CREATE TABLE chunks (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)");
        state.storage.sql.exec("INSERT INTO chunks (seq, data) VALUES (0, ?)", new Uint8Array(10).buffer);
      });
    }
    // The first object takes its spool up (its upload pending); the second one's is a leftover.
    let resumed: Spool | null = null;
    await runInDurableObject(first as DurableObjectStub, (_instance, state) => {
      resumed = Spool.resume(state.storage.sql, "chunks", 10, false, () => {});
      expect(resumed).not.toBeNull();
    });
    await runInDurableObject(second as DurableObjectStub, (_instance, state) => {
      expect(Spool.clear(state.storage.sql)).toBe(0);
      expect(Spool.left(state.storage.sql)).toBe(0);
    });
    await runInDurableObject(first as DurableObjectStub, (_instance, state) => {
      expect(Spool.clear(state.storage.sql)).toBe(1);
      expect(Spool.left(state.storage.sql)).toBe(1);
      (resumed as Spool | null)?.release();
      expect(Spool.left(state.storage.sql)).toBe(0);
    });
  });
});

describe("a spool within the isolate's memory budget for fills", () => {
  it("keeps its newest rows in memory only while the budget has room, and none once it waits for its upload with no reader left", async () => {
    const bytes = pseudoRandomBytes(8 * MIB, 7);
    const before = heldBytes().held;
    await withSpool(bytes.length, async (spool) => {
      limitHeldBytes(before + 3 * MIB);
      try {
        const reader = spool.reader().getReader();
        for (let offset = 0; offset < bytes.length; offset += MIB)
          spool.append(bytes.slice(offset, offset + MIB));
        // Eight rows in, room for three: the older ones went back to SQLite, where the reader finds them.
        expect(heldBytes().held - before).toBe(3 * MIB);
        spool.finish(true, true);
        // Its reader still streams: the newest rows stay for it.
        expect(heldBytes().held - before).toBe(3 * MIB);
        const read: Uint8Array[] = [];
        for (let next = await reader.read(); !next.done; next = await reader.read()) read.push(next.value);
        expect(same(new Uint8Array(await new Blob(read).arrayBuffer()), bytes)).toBe(true);
        // Held for its upload with no reader left, the spool keeps no row in memory.
        expect(heldBytes().held).toBe(before);
        spool.release();
      } finally {
        limitHeldBytes(48 * MIB);
      }
    });
  });
});

describe("a spool whose storage refuses rows (full, or failing)", () => {
  /** The object's SQL storage, refusing every chunk insert after the first `rows`. */
  function refusingAfter(sql: SqlStorage, rows: number): SqlStorage {
    let inserts = 0;
    return new Proxy(sql, {
      get(target, property) {
        if (property !== "exec") return Reflect.get(target, property);
        return (query: string, ...bindings: unknown[]) => {
          if (query.startsWith('INSERT INTO "chunks') && ++inserts > rows) {
            throw new Error("SQLITE_FULL: database or disk is full");
          }
          return target.exec(query, ...bindings);
        };
      },
    });
  }

  it("still gives a reader that keeps up every byte, verified; one that fell behind memory ends with an error", async () => {
    const bytes = pseudoRandomBytes(20 * MIB + 3, 5);
    const stub = env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(crypto.randomUUID()));
    await runInDurableObject(stub, async (_instance, state) => {
      let idle = false;
      const before = foregroundCount();
      const spool = Spool.create(refusingAfter(state.storage.sql, 2), bytes.length, false, () => {
        idle = true;
      });
      const keepsUp = collect(spool.reader());
      const behind = spool.reader().getReader();
      for (let offset = 0; offset < bytes.length; offset += MIB) {
        spool.append(bytes.slice(offset, offset + MIB));
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      expect(spool.storageFailed).toBe(true);
      expect(spool.storageFailure).toMatch(/SQLITE_FULL/);
      spool.finish(true, !spool.storageFailed);
      expect(same(await keepsUp, bytes)).toBe(true);
      // The two rows stored are read back; the next one is neither stored nor in memory any more.
      expect(same((await behind.read()).value, bytes.slice(0, MIB))).toBe(true);
      expect(same((await behind.read()).value, bytes.slice(MIB, 2 * MIB))).toBe(true);
      await expect(behind.read()).rejects.toThrow(/storage failed/);
      // The failed reader let go: no client body counted, and the spool is gone.
      expect(foregroundCount()).toBe(before);
      expect(idle).toBe(true);
    });
  });
});

describe("the pace of a spool's download", () => {
  it("waits for a reader that paces it (the put to the store) as well as for the leading client: neither reads a row back from SQLite", async () => {
    const bytes = pseudoRandomBytes(40 * MIB, 12);
    const stub = env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(crypto.randomUUID()));
    await runInDurableObject(stub, async (_instance, state) => {
      let readBack = 0;
      const sql = new Proxy(state.storage.sql, {
        get(target, property) {
          if (property !== "exec") return Reflect.get(target, property);
          return (query: string, ...bindings: unknown[]) => {
            if (query.startsWith("SELECT data FROM chunks")) readBack++;
            return target.exec(query, ...bindings);
          };
        },
      });
      const spool = Spool.create(sql, bytes.length, false, () => {});
      const client = collect(spool.reader());
      // The put is slower than the client: a row every 5 ms at best.
      const put = (async () => {
        const reader = spool.reader({ background: true, paces: true }).getReader();
        const parts: Uint8Array[] = [];
        for (;;) {
          await new Promise((resolve) => setTimeout(resolve, 5));
          const { done, value } = await reader.read();
          if (done) return new Uint8Array(await new Blob(parts).arrayBuffer());
          parts.push(value);
        }
      })();
      for (let offset = 0; offset < bytes.length; offset += MIB) {
        await spool.room(200);
        spool.append(bytes.slice(offset, offset + MIB));
      }
      spool.finish(true);
      expect(same(await client, bytes)).toBe(true);
      expect(same(await put, bytes)).toBe(true);
      expect(readBack).toBe(0);
    });
  });

  it("is not held by a pacing reader that stalls (a store that hangs), however long the wait it is given", async () => {
    const bytes = pseudoRandomBytes(12 * MIB, 13);
    await withSpool(bytes.length, async (spool) => {
      const client = collect(spool.reader());
      // The put takes the first row, then nothing more.
      const stalled = spool.reader({ background: true, paces: true }).getReader();
      const first = stalled.read();
      for (let offset = 0; offset < bytes.length; offset += MIB) {
        // A wait the test's own timeout would end first: only the stall rule lets the download go on.
        await spool.room(600_000);
        spool.append(bytes.slice(offset, offset + MIB));
      }
      spool.finish(true);
      expect(same(await client, bytes)).toBe(true);
      expect((await first).value?.byteLength).toBe(MIB);
      await stalled.cancel();
    });
  });
});
