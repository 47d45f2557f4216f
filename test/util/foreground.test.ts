import { describe, expect, it } from "vitest";
import {
  beginForeground,
  foregroundBody,
  foregroundCount,
  foregroundQuiet,
  givingWayToClients,
  YIELD_MS_PER_MIB,
} from "../../src/util/foreground";

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
    const started = Date.now();
    await foregroundQuiet(1000);
    expect(Date.now() - started).toBeLessThan(50);

    const end = beginForeground();
    const waiting = foregroundQuiet(5000).then(() => Date.now());
    const endedAt = await new Promise<number>((resolve) =>
      setTimeout(() => {
        end();
        resolve(Date.now());
      }, 100),
    );
    expect(await waiting).toBeGreaterThanOrEqual(endedAt);

    const busy = beginForeground();
    const boundedStart = Date.now();
    await foregroundQuiet(80);
    expect(Date.now() - boundedStart).toBeGreaterThanOrEqual(75);
    busy();
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
    const busy = beginForeground();
    const started = Date.now();
    await foregroundQuiet(100, 50);
    const waited = Date.now() - started;
    busy();
    expect(waited).toBeGreaterThanOrEqual(95);
    expect(waited).toBeLessThan(1000);
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
    const busy = beginForeground();
    try {
      const started = Date.now();
      const copied = new Uint8Array(await new Response(givingWayToClients(chunks(20))).arrayBuffer());
      const waited = Date.now() - started;
      expect(copied.length).toBe(20);
      // It did yield to the clients…
      expect(waited).toBeGreaterThanOrEqual(20 * YIELD_MS_PER_MIB * 0.9);
      // …but every chunk moved within its bound (the old tuning waited up to 250 ms a chunk).
      expect(waited).toBeLessThan(21 * YIELD_MS_PER_MIB + 250);
    } finally {
      busy();
    }
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
