import { describe, expect, it } from "vitest";
import { sliceOf } from "../../src/util/streams";

function source(chunks: readonly number[][], fail = false): ReadableStream<Uint8Array> {
  let index = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[index++];
      if (chunk) controller.enqueue(new Uint8Array(chunk));
      else if (fail) controller.error(new Error("the digest did not match"));
      else controller.close();
    },
  });
}

async function read(stream: ReadableStream<Uint8Array>): Promise<number[]> {
  return [...new Uint8Array(await new Response(stream).arrayBuffer())];
}

describe("sliceOf cuts a range out of a whole body as it streams", () => {
  it("across chunk boundaries, reading the source to its end", async () => {
    const chunks = [
      [0, 1, 2],
      [3, 4, 5],
      [6, 7, 8],
      [9, 10, 11],
    ];
    expect(await read(sliceOf(source(chunks), { start: 2, end: 7 }))).toEqual([2, 3, 4, 5, 6, 7]);
    expect(await read(sliceOf(source(chunks), { start: 0, end: 0 }))).toEqual([0]);
    expect(await read(sliceOf(source(chunks), { start: 11, end: 11 }))).toEqual([11]);
  });

  it("never ends cleanly when the source fails after the range (a digest checked at the end)", async () => {
    const sliced = sliceOf(source([[0, 1, 2], [3, 4, 5], [6]], true), { start: 1, end: 4 });
    await expect(read(sliced)).rejects.toThrow("the digest did not match");
  });
});
