import { describe, expect, it } from "vitest";
import {
  BodyTooLargeError,
  idleTimeout,
  lockstepTee,
  readLimited,
  rechunk,
  StalledError,
} from "../../src/util/streams";

const bytes = (...values: number[]) => new Uint8Array(values);

/** A source that makes its chunks on demand and counts how often it was asked. */
function countingSource(chunkCount: number, options: { failAfter?: number } = {}) {
  const state = { pulls: 0, produced: 0, cancelReason: undefined as unknown, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      state.pulls++;
      if (options.failAfter !== undefined && state.produced >= options.failAfter) {
        controller.error(new Error("upstream connection reset"));
        return;
      }
      if (state.produced >= chunkCount) {
        controller.close();
        return;
      }
      controller.enqueue(bytes(state.produced, state.produced, state.produced));
      state.produced++;
    },
    cancel(reason) {
      state.cancelled = true;
      state.cancelReason = reason;
    },
  });
  return { stream, state };
}

function streamOf(...chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<number[]> {
  return [...new Uint8Array(await new Response(stream).arrayBuffer())];
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

/** Reads a stream in the background, counting chunks, until stopped. */
function backgroundReader(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader();
  const received: Uint8Array[] = [];
  let finished = false;
  const done = (async () => {
    for (;;) {
      const result = await reader.read();
      if (result.done) break;
      received.push(result.value);
    }
    finished = true;
  })();
  return {
    received,
    get finished() {
      return finished;
    },
    done,
    stop: () => reader.cancel("test over"),
  };
}

describe("readLimited", () => {
  it("joins the chunks of a body into one array", async () => {
    expect([...(await readLimited(streamOf(bytes(1, 2), bytes(), bytes(3), bytes(4, 5, 6)), 100))]).toEqual([
      1, 2, 3, 4, 5, 6,
    ]);
  });

  it("reads an empty body as no bytes", async () => {
    expect(await readLimited(streamOf(), 10)).toHaveLength(0);
  });

  it("accepts a body of exactly the limit", async () => {
    expect(await readLimited(streamOf(bytes(1, 2), bytes(3, 4)), 4)).toEqual(bytes(1, 2, 3, 4));
  });

  it("throws BodyTooLargeError for one byte past the limit, and cancels the body", async () => {
    const { stream, state } = countingSource(100);
    await expect(readLimited(stream, 4)).rejects.toBeInstanceOf(BodyTooLargeError);
    expect(state.cancelled).toBe(true);
    expect(state.produced).toBeLessThan(100);
  });

  it("names the limit in its message", async () => {
    await expect(readLimited(streamOf(bytes(1, 2, 3)), 2)).rejects.toThrow("2 bytes");
  });
});

describe("lockstepTee", () => {
  it("gives both branches the same bytes", async () => {
    const { stream } = countingSource(20);
    const [a, b] = lockstepTee(stream);
    const [left, right] = await Promise.all([readAll(a), readAll(b)]);
    expect(left).toHaveLength(60);
    expect(right).toEqual(left);
  });

  it("passes an empty source on as two empty branches", async () => {
    const [a, b] = lockstepTee(streamOf());
    expect(await Promise.all([readAll(a), readAll(b)])).toEqual([[], []]);
  });

  it("lets one branch finish alone when the other is cancelled up front", async () => {
    const { stream, state } = countingSource(10);
    const [a, b] = lockstepTee(stream);
    await b.cancel("client went away");
    expect(await readAll(a)).toHaveLength(30);
    expect(state.cancelled).toBe(false);
  });

  it("lets one branch finish alone when the other is cancelled half way", async () => {
    const { stream, state } = countingSource(10);
    const [a, b] = lockstepTee(stream);
    const slow = b.getReader();
    const fast = backgroundReader(a);
    expect((await slow.read()).value).toEqual(bytes(0, 0, 0));
    expect((await slow.read()).value).toEqual(bytes(1, 1, 1));
    await slow.cancel("client went away");
    await fast.done;
    expect(fast.received.map((chunk) => chunk[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(state.cancelled).toBe(false);
  });

  it("lets a branch waiting for the other go on when the other is cancelled", async () => {
    const { stream } = countingSource(3);
    const [a, b] = lockstepTee(stream);
    const fast = backgroundReader(a);
    await settle();
    expect(fast.received).toHaveLength(0); // held back: b has not asked yet
    await b.cancel();
    await fast.done;
    expect(fast.received).toHaveLength(3);
  });

  it("cancels the source, with the reason, once both branches are cancelled", async () => {
    const { stream, state } = countingSource(10);
    const [a, b] = lockstepTee(stream);
    await a.cancel("first");
    expect(state.cancelled).toBe(false);
    await b.cancel("second");
    expect(state.cancelled).toBe(true);
    expect(state.cancelReason).toBe("second");
  });

  it("errors both branches when the source errors", async () => {
    const { stream } = countingSource(10, { failAfter: 3 });
    const [a, b] = lockstepTee(stream);
    const results = await Promise.allSettled([readAll(a), readAll(b)]);
    for (const result of results) {
      expect(result.status).toBe("rejected");
      if (result.status === "rejected") expect(String(result.reason)).toContain("upstream connection reset");
    }
  });

  it("errors the branch still reading when the source errors after the other was cancelled", async () => {
    const { stream } = countingSource(10, { failAfter: 2 });
    const [a, b] = lockstepTee(stream);
    await b.cancel();
    await expect(readAll(a)).rejects.toThrow("upstream connection reset");
  });

  it("holds a reading branch back while the other does not read: memory stays at a chunk or two", async () => {
    const { stream, state } = countingSource(1000);
    const [a, b] = lockstepTee(stream);
    const fast = backgroundReader(a);
    const idle = b.getReader();
    expect((await idle.read()).value).toEqual(bytes(0, 0, 0)); // b reads one chunk, then stalls
    await settle();
    // a may have the chunk b read and at most one more; the source was asked for little beyond that.
    expect(fast.received.length).toBeLessThanOrEqual(2);
    expect(state.pulls).toBeLessThanOrEqual(fast.received.length + 2);
    const pullsWhileStalled = state.pulls;
    await settle();
    expect(state.pulls).toBe(pullsWhileStalled);
    expect(fast.finished).toBe(false);

    // Once b reads again, both go on to the end in step.
    const rest: number[] = [];
    for (;;) {
      const { done, value } = await idle.read();
      if (done) break;
      rest.push(value[0] ?? -1);
    }
    await fast.done;
    expect(rest).toHaveLength(999);
    expect(fast.received).toHaveLength(1000);
  });

  it("keeps the two branches within a chunk or two of each other throughout", async () => {
    const { stream, state } = countingSource(50);
    const [a, b] = lockstepTee(stream);
    const readerA = a.getReader();
    const readerB = b.getReader();
    let readA = 0;
    let maxLead = 0;
    // a reads as fast as it can; b reads only every few milliseconds.
    const fast = (async () => {
      while (!(await readerA.read()).done) readA++;
    })();
    let readB = 0;
    while (!(await readerB.read()).done) {
      readB++;
      maxLead = Math.max(maxLead, readA - readB, state.produced - readB);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await fast;
    expect(readA).toBe(50);
    expect(readB).toBe(50);
    expect(maxLead).toBeLessThanOrEqual(2);
  });
});

describe("idleTimeout: a source that stops sending is given up", () => {
  it("passes chunks through and closes with the source", async () => {
    const source = new Response(new Uint8Array([1, 2, 3])).body as ReadableStream<Uint8Array>;
    const bytes = new Uint8Array(await new Response(idleTimeout(source, 1000)).arrayBuffer());
    expect([...bytes]).toEqual([1, 2, 3]);
  });

  it("errors, and cancels the source, when no chunk arrives in time", async () => {
    let cancelled = false;
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array([1]));
      },
      cancel() {
        cancelled = true;
      },
    });
    const reader = idleTimeout(source, 50).getReader();
    expect((await reader.read()).value).toEqual(new Uint8Array([1]));
    await expect(reader.read()).rejects.toThrow(StalledError);
    expect(cancelled).toBe(true);
  });
});

describe("rechunk: a body regrouped into chunks of a given size", () => {
  const bytes = Uint8Array.from({ length: 10_000 }, (_, index) => index % 251);

  async function chunksOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
    const chunks: Uint8Array[] = [];
    const reader = stream.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) chunks.push(read.value);
    return chunks;
  }

  it("regroups a byte stream (a fetch body) into chunks of the size, the first one smaller, bytes unchanged", async () => {
    const body = new Response(bytes).body as ReadableStream<Uint8Array>;
    const chunks = await chunksOf(rechunk(body, 4096, 1000));
    expect(chunks.map((chunk) => chunk.byteLength)).toEqual([1000, 4096, 4096, 808]);
    expect(new Uint8Array(await new Blob(chunks).arrayBuffer())).toEqual(bytes);
  });

  it("regroups a plain stream of small pieces the same way", async () => {
    const pieces = Array.from({ length: 100 }, (_, index) => bytes.slice(index * 100, index * 100 + 100));
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        const piece = pieces.shift();
        if (piece) controller.enqueue(piece);
        else controller.close();
      },
    });
    const chunks = await chunksOf(rechunk(source, 3000));
    expect(chunks.map((chunk) => chunk.byteLength)).toEqual([3000, 3000, 3000, 1000]);
    expect(new Uint8Array(await new Blob(chunks).arrayBuffer())).toEqual(bytes);
  });
});
