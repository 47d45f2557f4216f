import { describe, expect, it } from "vitest";
import { foregroundBody } from "../../src/util/foreground";

const CHUNK = 64 * 1024;

/** A source of `chunks` chunks of CHUNK bytes, failing after `failAfter` if set; counts cancels. */
function source(chunks: number, failAfter?: number) {
  const state = { sent: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (failAfter !== undefined && state.sent >= failAfter) {
          controller.error(new Error("upstream bytes do not match the digest"));
          return;
        }
        if (state.sent >= chunks) {
          controller.close();
          return;
        }
        controller.enqueue(new Uint8Array(CHUNK).fill(state.sent));
        state.sent++;
      },
      cancel() {
        state.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, state };
}

/** Lets the pipes' promises settle. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe("a client's body, piped natively with its length declared", () => {
  it("passes every byte on and tells no failure when the client reads to the end", async () => {
    const { stream } = source(8);
    let failed = 0;
    const body = foregroundBody(stream, 8 * CHUNK, () => failed++);
    expect((await new Response(body).arrayBuffer()).byteLength).toBe(8 * CHUNK);
    await settle();
    expect(failed).toBe(0);
  });

  it("tells once when the client goes away before the last byte, and cancels the source", async () => {
    const { stream, state } = source(64);
    let failed = 0;
    const reader = foregroundBody(stream, 64 * CHUNK, () => failed++).getReader();
    await reader.read();
    await reader.cancel(new Error("client disconnected"));
    await settle();
    expect(failed).toBe(1);
    expect(state.cancelled).toBe(true);
  });

  it("tells once when the source fails, and fails the client's body", async () => {
    const { stream } = source(64, 3);
    let failed = 0;
    const body = foregroundBody(stream, 64 * CHUNK, () => failed++);
    await expect(new Response(body).arrayBuffer()).rejects.toThrow();
    await settle();
    expect(failed).toBe(1);
  });
});
