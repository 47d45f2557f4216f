import { afterEach, describe, expect, it } from "vitest";
import { parseDigest } from "../../src/oci/digest";
import { StoreThrough } from "../../src/storage/store-through";
import { heldBytes, limitHeldBytes, metered, releaseHeld } from "../../src/util/held-bytes";
import { concatBytes, pseudoRandomBytes, sha256 } from "../support/fake-registry";
import { heldRows } from "../support/held-rows";

const MIB = 1024 * 1024;

/** The bytes in 1 MiB chunks, counting how many the copy has taken from it. */
function source(bytes: Uint8Array): { stream: ReadableStream<Uint8Array>; taken: () => number } {
  let offset = 0;
  let taken = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (offset >= bytes.length) {
          controller.close();
          return;
        }
        controller.enqueue(bytes.slice(offset, offset + MIB));
        offset += MIB;
        taken++;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, taken: () => taken };
}

/** A store that keeps what it is given, or fails after `failAfter` chunks. */
function memoryStore(failAfter = Number.POSITIVE_INFINITY) {
  const kept: Uint8Array[] = [];
  let finished: "stored" | "failed" | null = null;
  const put = async (body: ReadableStream<Uint8Array>): Promise<boolean> => {
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (kept.length >= failAfter) {
          await reader.cancel(new Error("the store is down"));
          finished = "failed";
          return false;
        }
        kept.push(value);
      }
    } catch {
      finished = "failed";
      return false;
    }
    finished = "stored";
    return true;
  };
  return { put, bytes: () => concatBytes(kept), finished: () => finished };
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Reads the client's stream to its end; resolves the bytes it got before an error (and the error). */
async function readUntilError(
  stream: ReadableStream<Uint8Array>,
): Promise<{ received: number; error: unknown }> {
  const reader = stream.getReader();
  let received = 0;
  for (;;) {
    try {
      const { done, value } = await reader.read();
      if (done) return { received, error: null };
      received += value.byteLength;
    } catch (error) {
      return { received, error };
    }
  }
}

/** A catch-up source that must not be needed: it counts how often it was asked. */
function unusedResume(): { resume: () => Promise<ReadableStream<Uint8Array>>; asked: () => number } {
  let asked = 0;
  return {
    resume: async () => {
      asked++;
      return new ReadableStream();
    },
    asked: () => asked,
  };
}

function same(actual: Uint8Array, expected: Uint8Array): boolean {
  if (actual.byteLength !== expected.byteLength) return false;
  for (let index = 0; index < expected.byteLength; index++)
    if (actual[index] !== expected[index]) return false;
  return true;
}

async function blob(size: number, seed: number) {
  const bytes = pseudoRandomBytes(size, seed);
  return { bytes, digest: parseDigest(await sha256(bytes)) };
}

describe("a download stored as it streams (too large for a spool)", () => {
  it("gives its client and the store every byte, and ends verified and stored", async () => {
    const { bytes, digest } = await blob(5 * MIB + 17, 1);
    const store = memoryStore();
    const through = new StoreThrough(source(bytes).stream, bytes.length, digest, false, 5_000, store.put);
    const client = through.takeClient();
    expect(client).not.toBeNull();
    expect(same(await collect(client as ReadableStream<Uint8Array>), bytes)).toBe(true);
    expect(await through.done).toEqual({ verified: true, stored: true });
    expect(same(store.bytes(), bytes)).toBe(true);
  });

  it("has one client: a later request gets nothing to read (it is sent to the upstream)", async () => {
    const { bytes, digest } = await blob(2 * MIB, 2);
    const store = memoryStore();
    const through = new StoreThrough(source(bytes).stream, bytes.length, digest, false, 5_000, store.put);
    const first = through.takeClient();
    expect(through.takeClient()).toBeNull();
    await collect(first as ReadableStream<Uint8Array>);
    expect((await through.done).stored).toBe(true);
  });

  it("reads the source at the store's pace whatever its client does: a client that reads nothing lets go at the window", async () => {
    const { bytes, digest } = await blob(8 * MIB, 3);
    const upstream = source(bytes);
    const store = memoryStore();
    const through = new StoreThrough(upstream.stream, bytes.length, digest, false, 5_000, store.put, {
      windowBytes: 2 * MIB,
      resume: null,
    });
    const client = through.takeClient() as ReadableStream<Uint8Array>;
    // The client reads nothing at all: the blob is read whole and stored all the same.
    expect(await through.done).toEqual({ verified: true, stored: true });
    expect(upstream.taken()).toBe(8);
    expect(same(store.bytes(), bytes)).toBe(true);
    // Without a source of its own, the client that fell behind gets an error, never a clean end.
    await expect(collect(client)).rejects.toThrow(/fell behind/);
  });

  it("continues a client that fell behind from its own source at its offset, verified as a whole", async () => {
    const { bytes, digest } = await blob(8 * MIB + 3, 15);
    const store = memoryStore();
    const offsets: number[] = [];
    const through = new StoreThrough(source(bytes).stream, bytes.length, digest, false, 5_000, store.put, {
      windowBytes: 2 * MIB,
      resume: async (offset) => {
        offsets.push(offset);
        return source(bytes.subarray(offset)).stream;
      },
    });
    const reader = (through.takeClient() as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(first.value?.byteLength).toBe(MIB);
    expect(await through.done).toEqual({ verified: true, stored: true });
    const rest: Uint8Array[] = [first.value as Uint8Array];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest.push(value);
    }
    expect(same(concatBytes(rest), bytes)).toBe(true);
    // It had taken 1 MiB when it let go; its queue was dropped, so it asked for the rest from there.
    expect(offsets).toEqual([MIB]);
  });

  it("ends a client that fell behind with an error when its own source sends wrong bytes: the last chunk is held", async () => {
    const { bytes, digest } = await blob(6 * MIB, 16);
    const wrong = bytes.map((byte, index) => (index === bytes.length - 1 ? byte ^ 1 : byte));
    const store = memoryStore();
    const through = new StoreThrough(source(bytes).stream, bytes.length, digest, false, 5_000, store.put, {
      windowBytes: MIB,
      resume: async (offset) => source(wrong.subarray(offset)).stream,
    });
    const client = through.takeClient() as ReadableStream<Uint8Array>;
    expect(await through.done).toEqual({ verified: true, stored: true });
    const { received, error } = await readUntilError(client);
    expect(String(error)).toMatch(/digest/);
    expect(received).toBeLessThan(bytes.length);
  });

  it("keeps a client that keeps up on the download: no source of its own is opened", async () => {
    const { bytes, digest } = await blob(6 * MIB, 17);
    const store = memoryStore();
    const resume = unusedResume();
    const through = new StoreThrough(source(bytes).stream, bytes.length, digest, false, 5_000, store.put, {
      windowBytes: 2 * MIB,
      resume: resume.resume,
    });
    expect(same(await collect(through.takeClient() as ReadableStream<Uint8Array>), bytes)).toBe(true);
    expect(await through.done).toEqual({ verified: true, stored: true });
    expect(resume.asked()).toBe(0);
  });

  it("waits at the window for a client that reads a little slower than the store (20 MiB/s), which keeps the download's bytes", async () => {
    const { bytes, digest } = await blob(8 * MIB, 18);
    const store = memoryStore();
    const resume = unusedResume();
    const through = new StoreThrough(source(bytes).stream, bytes.length, digest, false, 5_000, store.put, {
      windowBytes: 2 * MIB,
      resume: resume.resume,
    });
    const reader = (through.takeClient() as ReadableStream<Uint8Array>).getReader();
    const chunks: Uint8Array[] = [];
    for (;;) {
      // 1 MiB every 50 ms: slower than the store here, far faster than the 5 MiB/s it is let go below.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
    expect(same(concatBytes(chunks), bytes)).toBe(true);
    expect(await through.done).toEqual({ verified: true, stored: true });
    expect(resume.asked()).toBe(0);
  });

  it("holds the client's last chunk until the digest is verified: wrong bytes end client and store with an error", async () => {
    const { bytes } = await blob(3 * MIB + 5, 4);
    const other = parseDigest(await sha256(pseudoRandomBytes(16, 99)));
    const store = memoryStore();
    const through = new StoreThrough(source(bytes).stream, bytes.length, other, false, 5_000, store.put);
    const { received, error } = await readUntilError(through.takeClient() as ReadableStream<Uint8Array>);
    expect(String(error)).toMatch(/digest/);
    // A client that counts bytes (Content-Length) never sees the whole blob.
    expect(received).toBeLessThan(bytes.length);
    expect(await through.done).toEqual({ verified: false, stored: false });
    expect(store.finished()).toBe("failed");
  });

  it("fails client and store when the source is shorter than the size it declared", async () => {
    const { bytes, digest } = await blob(2 * MIB, 5);
    const store = memoryStore();
    const through = new StoreThrough(source(bytes).stream, bytes.length + 1, digest, false, 5_000, store.put);
    await expect(collect(through.takeClient() as ReadableStream<Uint8Array>)).rejects.toThrow();
    expect((await through.done).stored).toBe(false);
    expect(store.finished()).toBe("failed");
  });

  it("goes on storing when its client goes away", async () => {
    const { bytes, digest } = await blob(4 * MIB + 1, 6);
    const store = memoryStore();
    const through = new StoreThrough(source(bytes).stream, bytes.length, digest, false, 5_000, store.put);
    const reader = (through.takeClient() as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel();
    expect(await through.done).toEqual({ verified: true, stored: true });
    expect(same(store.bytes(), bytes)).toBe(true);
  });

  it("goes on serving its client when the store fails", async () => {
    const { bytes, digest } = await blob(4 * MIB + 2, 7);
    const store = memoryStore(1);
    const through = new StoreThrough(source(bytes).stream, bytes.length, digest, false, 5_000, store.put);
    expect(same(await collect(through.takeClient() as ReadableStream<Uint8Array>), bytes)).toBe(true);
    expect(await through.done).toEqual({ verified: true, stored: false });
  });

  it("lets go of a client that takes nothing for the stall bound (its queue freed), which continues on its own later", async () => {
    const { bytes, digest } = await blob(3 * MIB, 8);
    const store = memoryStore();
    const offsets: number[] = [];
    const through = new StoreThrough(source(bytes).stream, bytes.length, digest, false, 100, store.put, {
      windowBytes: 16 * MIB,
      resume: async (offset) => {
        offsets.push(offset);
        return source(bytes.subarray(offset)).stream;
      },
    });
    const client = through.takeClient() as ReadableStream<Uint8Array>;
    expect(await through.done).toEqual({ verified: true, stored: true });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(same(await collect(client), bytes)).toBe(true);
    expect(offsets).toEqual([0]);
  });

  it("serves its client all the same when the store takes nothing: the store is dropped after the stall bound", async () => {
    const { bytes, digest } = await blob(3 * MIB, 9);
    const never = (_body: ReadableStream<Uint8Array>) => new Promise<boolean>(() => {});
    const through = new StoreThrough(source(bytes).stream, bytes.length, digest, false, 100, never);
    expect(same(await collect(through.takeClient() as ReadableStream<Uint8Array>), bytes)).toBe(true);
    expect(await through.done).toEqual({ verified: true, stored: false });
    expect(through.finished).toBe(true);
  });

  it("fails client and store when the source is longer than the size it declared", async () => {
    const { bytes, digest } = await blob(2 * MIB, 10);
    const store = memoryStore();
    const through = new StoreThrough(source(bytes).stream, bytes.length - 1, digest, false, 5_000, store.put);
    await expect(collect(through.takeClient() as ReadableStream<Uint8Array>)).rejects.toThrow(/longer/);
    expect((await through.done).stored).toBe(false);
    expect(store.finished()).toBe("failed");
  });

  it("stops reading the source once both client and store are gone", async () => {
    const { bytes, digest } = await blob(8 * MIB, 11);
    const upstream = source(bytes);
    const store = memoryStore(1);
    const through = new StoreThrough(upstream.stream, bytes.length, digest, false, 5_000, store.put);
    await (through.takeClient() as ReadableStream<Uint8Array>).cancel();
    expect(await through.done).toEqual({ verified: false, stored: false });
    expect(upstream.taken()).toBeLessThan(8);
  });

  it("has nothing to hand out once its untaken client was let go: a later request is sent to the upstream", async () => {
    const { bytes, digest } = await blob(2 * MIB, 12);
    const store = memoryStore();
    const through = new StoreThrough(source(bytes).stream, bytes.length, digest, false, 50, store.put);
    expect((await through.done).stored).toBe(true);
    // Its chunks waited untaken for the stall bound: let go (their memory freed), it is handed to no one.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(through.takeClient()).toBeNull();
  });

  it("gives the store its verdict once the bytes are verified, which a store that waits for it completes on", async () => {
    const { bytes, digest } = await blob(3 * MIB, 13);
    const wrong = parseDigest(await sha256(pseudoRandomBytes(8, 14)));
    for (const [claimed, expected] of [
      [digest, true],
      [wrong, false],
    ] as const) {
      const verdicts: boolean[] = [];
      const waiting = async (body: ReadableStream<Uint8Array>, verdict: Promise<boolean>) => {
        await new Response(body).arrayBuffer().catch(() => {});
        verdicts.push(await verdict);
        return verdicts.at(-1) === true;
      };
      const through = new StoreThrough(source(bytes).stream, bytes.length, claimed, false, 5_000, waiting);
      await collect(through.takeClient() as ReadableStream<Uint8Array>).catch(() => {});
      const started = Date.now();
      expect((await through.done).stored).toBe(expected);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(verdicts).toEqual([expected]);
    }
  });
});

describe("the windows of clients that fall behind, in the isolate's fill budget (FILL_MEMORY_BYTES)", () => {
  afterEach(() => limitHeldBytes(48 * MIB));

  it("never hold more than the budget across downloads whose clients stall, and every client still gets every byte verified", async () => {
    const before = heldBytes(true).held;
    const budget = 8 * MIB;
    limitHeldBytes(before + budget);
    // Four 12 MiB blobs, each read (as the fill engine reads them) only once the budget has room.
    const blobs = await Promise.all([0, 1, 2, 3].map((index) => blob(12 * MIB, 40 + index)));
    const fromOwnSource = blobs.map(() => 0);
    const throughs = blobs.map(({ bytes, digest }, index) => {
      const store = memoryStore();
      return new StoreThrough(
        metered(source(bytes).stream, MIB),
        bytes.length,
        digest,
        false,
        60_000,
        store.put,
        {
          // A window larger than each blob: only the budget stops the clients' queues growing.
          windowBytes: 16 * MIB,
          resume: async (offset) => {
            fromOwnSource[index] = bytes.length - offset;
            return source(bytes.subarray(offset)).stream;
          },
        },
      );
    });
    const clients = throughs.map((through) => through.takeClient() as ReadableStream<Uint8Array>);
    // The clients read nothing until every blob is stored.
    expect(await Promise.all(throughs.map((through) => through.done))).toEqual(
      blobs.map(() => ({ verified: true, stored: true })),
    );
    const received = await Promise.all(clients.map(collect));
    for (const [index, bytes] of received.entries()) {
      expect(same(bytes, blobs[index]?.bytes as Uint8Array)).toBe(true);
    }
    const { held, peak } = heldBytes();
    // Bytes each client took from its window were all queued at once when it began to read.
    const fromWindows = fromOwnSource.reduce((sum, own) => sum + (12 * MIB - own), 0);
    console.log(
      `stalled store-through clients: peak ${peak - before} bytes held of a ${budget} budget, ${fromWindows} bytes read from windows, ${fromOwnSource.join("/")} from their own sources`,
    );
    // Without the windows in the budget each client queued its whole blob: 48 MiB.
    expect(fromWindows).toBeLessThanOrEqual(budget);
    expect(peak - before).toBeLessThanOrEqual(budget);
    // The windows were counted (the four downloads' chunks alone hold at most 4 MiB).
    expect(peak - before).toBeGreaterThan(4 * MIB);
    expect(held).toBe(before);
  });

  it("take their room from rows kept only to save a read: a client that keeps up is not let go because spools' rows fill the budget", async () => {
    const before = heldBytes(true).held;
    limitHeldBytes(before + 8 * MIB);
    // Another download's newest spool rows hold the whole budget (readers could read them back from SQLite).
    const rows = heldRows(8);
    try {
      const { bytes, digest } = await blob(6 * MIB, 48);
      const resume = unusedResume();
      const store = memoryStore();
      const through = new StoreThrough(
        metered(source(bytes).stream, MIB),
        bytes.length,
        digest,
        false,
        60_000,
        store.put,
        {
          windowBytes: 16 * MIB,
          resume: resume.resume,
        },
      );
      const client = collect(through.takeClient() as ReadableStream<Uint8Array>);
      expect(same(await client, bytes)).toBe(true);
      expect(await through.done).toEqual({ verified: true, stored: true });
      // The client kept the download's bytes: it never went to a source of its own.
      expect(resume.asked()).toBe(0);
      expect(heldBytes().peak - before).toBeLessThanOrEqual(8 * MIB);
    } finally {
      rows.unregister();
      releaseHeld(rows.state.rows * MIB);
    }
    expect(heldBytes().held).toBe(before);
  });
});
