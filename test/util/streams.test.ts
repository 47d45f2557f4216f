import { describe, expect, it } from "vitest";
import { BodyTooLargeError, idleTimeout, readLimited, rechunk, StalledError } from "../../src/util/streams";

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

  it("does not count a slow consumer's pauses as a stall", async () => {
    let sent = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 3) controller.enqueue(new Uint8Array([sent]));
        else controller.close();
      },
    });
    const reader = idleTimeout(source, 40).getReader();
    const received: number[] = [];
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      received.push(...read.value);
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
    expect(received).toEqual([1, 2, 3]);
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
