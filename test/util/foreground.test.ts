import { describe, expect, it, vi } from "vitest";
import {
  beginForeground,
  foregroundBody,
  foregroundCount,
  foregroundQuiet,
  givingWayToClients,
  YIELD_MS_PER_MIB,
} from "../../src/util/foreground";

/**
 * Runs `body` on a virtual clock (Date and timers, moved on by the spec): how long the code waits is
 * checked exactly, not against a wall clock on a busy machine.
 */
async function onVirtualClock(body: () => Promise<void>): Promise<void> {
  vi.useFakeTimers({ toFake: ["Date", "setTimeout", "clearTimeout"] });
  const started = Date.now();
  try {
    await body();
  } finally {
    const moved = Date.now() - started;
    vi.useRealTimers();
    // The module remembers when clients were last done: the real clock catches up with the virtual
    // one, so that time is not in the future of the specs after this one.
    await new Promise((resolve) => setTimeout(resolve, moved + 1));
  }
}

/** Moves the virtual clock on in steps of `stepMs` until `promise` settles (at most `maxSteps` steps). */
async function advanceUntil<T>(promise: Promise<T>, stepMs: number, maxSteps = 1000): Promise<T> {
  let settled = false;
  const watched = promise.finally(() => {
    settled = true;
  });
  for (let step = 0; step < maxSteps && !settled; step++) await vi.advanceTimersByTimeAsync(stepMs);
  return watched;
}

function chunks(count: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(new Uint8Array([sent++]));
      if (sent === count) controller.close();
    },
  });
}

describe("foreground traffic", () => {
  it("counts a client body until its last byte is taken", async () => {
    const body = foregroundBody(chunks(3), 3);
    expect(foregroundCount()).toBe(1);
    expect(new Uint8Array(await new Response(body).arrayBuffer())).toEqual(new Uint8Array([0, 1, 2]));
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(foregroundCount()).toBe(0);
  });

  it("stops counting a body whose client went away", async () => {
    const body = foregroundBody(chunks(1000), 1000);
    await body.cancel();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(foregroundCount()).toBe(0);
  });

  it("lets background work wait for quiet, but never longer than its bound", async () => {
    await onVirtualClock(async () => {
      // Nobody streams: no wait at all.
      const started = Date.now();
      await foregroundQuiet(1000);
      expect(Date.now()).toBe(started);

      // A client streams: the work waits until it is done (looking every 50 ms), not for its bound.
      const end = beginForeground();
      const waiting = foregroundQuiet(5000).then(() => Date.now());
      await vi.advanceTimersByTimeAsync(100);
      end();
      const endedAt = Date.now();
      const doneAt = await advanceUntil(waiting, 10);
      expect(doneAt).toBeGreaterThanOrEqual(endedAt);
      expect(doneAt - endedAt).toBeLessThanOrEqual(50);

      // A client that streams on: the work goes at its bound, exactly.
      const busy = beginForeground();
      const boundedStart = Date.now();
      expect(
        await advanceUntil(
          foregroundQuiet(80).then(() => Date.now()),
          10,
        ),
      ).toBe(boundedStart + 80);
      busy();
    });
  });

  it("lets a copy wait until clients have been quiet for a while, not only for a gap", async () => {
    const first = beginForeground();
    const waiting = foregroundQuiet(5000, 120).then(() => Date.now());
    await new Promise((resolve) => setTimeout(resolve, 40));
    first();
    const firstEndedAt = Date.now();
    // The next request of the same pull comes after a short gap: the copy keeps waiting.
    await new Promise((resolve) => setTimeout(resolve, 30));
    const second = beginForeground();
    await new Promise((resolve) => setTimeout(resolve, 40));
    second();
    const lastEndedAt = Date.now();
    const startedAt = await waiting;
    expect(startedAt).toBeGreaterThanOrEqual(lastEndedAt + 115);
    expect(startedAt).toBeGreaterThan(firstEndedAt + 150);
  });

  it("starts a waiting copy after its bound however busy the clients are", async () => {
    await onVirtualClock(async () => {
      const busy = beginForeground();
      const started = Date.now();
      const doneAt = await advanceUntil(
        foregroundQuiet(100, 50).then(() => Date.now()),
        10,
      );
      busy();
      expect(doneAt - started).toBe(100);
    });
  });

  it("passes a background copy's chunk on as soon as the streaming clients are done", async () => {
    const end = beginForeground();
    const reader = givingWayToClients(chunks(2)).getReader();
    let first: number | null = null;
    const read = reader.read().then(() => {
      first = Date.now();
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(first).toBeNull();
    const endedAt = Date.now();
    end();
    await read;
    expect(first).toBeGreaterThanOrEqual(endedAt);
    expect((await reader.read()).value).toEqual(new Uint8Array([1]));
    expect((await reader.read()).done).toBe(true);
  });

  it("never holds a copy back more than YIELD_MS_PER_MIB per chunk while clients stream without a pause", async () => {
    await onVirtualClock(async () => {
      const busy = beginForeground();
      try {
        const started = Date.now();
        const reader = givingWayToClients(chunks(20)).getReader();
        const readAt: number[] = [];
        for (let chunk = await advanceUntil(reader.read(), 10); !chunk.done; ) {
          readAt.push(Date.now());
          chunk = await advanceUntil(reader.read(), 10);
        }
        expect(readAt).toHaveLength(20);
        // Each chunk gave way to the clients for exactly its bound, at most 50 ms per MiB (the old
        // tuning waited up to 250 ms).
        expect(YIELD_MS_PER_MIB).toBeLessThanOrEqual(50);
        expect(readAt.map((at, index) => at - (readAt[index - 1] ?? started))).toEqual(
          readAt.map(() => YIELD_MS_PER_MIB),
        );
      } finally {
        busy();
      }
    });
  });
});

describe("background copies together", () => {
  it("take turns chunk by chunk, so two copies never have a chunk in their sinks at once", async () => {
    const events: string[] = [];
    const copy = async (name: string) => {
      const reader = givingWayToClients(chunks(3)).getReader();
      for (;;) {
        const { done } = await reader.read();
        if (done) return;
        events.push(`${name}+`);
        await new Promise((resolve) => setTimeout(resolve, 5)); // the sink at work
        events.push(`${name}-`);
      }
    };
    await Promise.all([copy("a"), copy("b")]);
    // Each chunk's work ends before the other copy's next chunk starts.
    for (let index = 0; index < events.length; index += 2) {
      expect(events[index]?.[0]).toBe(events[index + 1]?.[0]);
      expect(events[index]?.endsWith("+")).toBe(true);
    }
    expect(events.filter((event) => event.endsWith("+"))).toHaveLength(6);
  });
});
