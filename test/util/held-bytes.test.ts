import { afterEach, describe, expect, it } from "vitest";
import { heldBytes, limitHeldBytes, metered, releaseHeld, tryHold } from "../../src/util/held-bytes";
import { heldRows } from "../support/held-rows";

const MIB = 1024 * 1024;
afterEach(() => limitHeldBytes(48 * MIB));

/** A source of `count` chunks of `bytes`, counting how many were read from it. */
function counted(count: number, bytes: number): { stream: ReadableStream<Uint8Array>; reads: () => number } {
  let reads = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        reads++;
        controller.enqueue(new Uint8Array(bytes));
        if (reads === count) controller.close();
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, reads: () => reads };
}

describe("the fills' memory budget", () => {
  it("refuses to hold beyond the budget, and keeps the peak", () => {
    const before = heldBytes(true).held;
    limitHeldBytes(before + 2 * MIB);
    expect(tryHold(MIB)).toBe(true);
    expect(tryHold(MIB)).toBe(true);
    expect(tryHold(1)).toBe(false);
    releaseHeld(2 * MIB);
    expect(heldBytes()).toMatchObject({ held: before, peak: before + 2 * MIB });
  });

  it("stops a metered stream reading ahead while the budget is full, and goes on once there is room", async () => {
    const before = heldBytes().held;
    limitHeldBytes(before + 2 * MIB);
    // Someone else holds most of the room: not a chunk is read from the source meanwhile.
    const other = 1.5 * MIB;
    expect(tryHold(other)).toBe(true);
    const source = counted(3, MIB);
    const reader = metered(source.stream, MIB).getReader();
    const first = reader.read();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(source.reads()).toBe(0);
    releaseHeld(other);
    expect((await first).value?.byteLength).toBe(MIB);
    expect(source.reads()).toBe(1);
    expect((await reader.read()).value?.byteLength).toBe(MIB);
    expect((await reader.read()).value?.byteLength).toBe(MIB);
    expect((await reader.read()).done).toBe(true);
    expect(heldBytes().held).toBe(before);
  });

  it("takes a chunk's room from rows kept only to save a read (the largest cache first), not waiting for them", async () => {
    const before = heldBytes().held;
    limitHeldBytes(before + 4 * MIB);
    const small = heldRows(1);
    const large = heldRows(3);
    const reader = metered(counted(2, MIB).stream, MIB).getReader();
    expect((await reader.read()).value?.byteLength).toBe(MIB);
    expect(large.state.evicted).toBe(1);
    expect(small.state.evicted).toBe(0);
    await reader.cancel();
    small.unregister();
    large.unregister();
    releaseHeld((small.state.rows + large.state.rows) * MIB);
    expect(heldBytes().held).toBe(before);
  });

  it("lets go of the last chunk at the stream's length, for a consumer that never asks for the end", async () => {
    const before = heldBytes().held;
    const reader = metered(counted(2, MIB).stream, MIB, 2 * MIB).getReader();
    await reader.read();
    await reader.read();
    expect(heldBytes().held).toBe(before);
  });
});
