import { afterEach, describe, expect, it, vi } from "vitest";
import { StallWatch } from "../../src/util/stall-watch";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("StallWatch: a wait that lasts too long without moving is a stall", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("tells once a wait has lasted its time", async () => {
    let stalls = 0;
    const watch = new StallWatch(30, () => stalls++);
    watch.start();
    await sleep(80);
    expect(stalls).toBe(1);
    watch.dispose();
  });

  it("does not tell while the wait keeps moving, and counts from the last move", async () => {
    let stalls = 0;
    const watch = new StallWatch(60, () => stalls++);
    watch.start();
    for (let i = 0; i < 6; i++) {
      await sleep(20);
      watch.moved();
    }
    expect(stalls).toBe(0);
    await sleep(120);
    expect(stalls).toBe(1);
    watch.dispose();
  });

  it("does not tell for a wait that ended, nor after it is disposed", async () => {
    let stalls = 0;
    const stopped = new StallWatch(20, () => stalls++);
    stopped.start();
    stopped.stop();
    const disposed = new StallWatch(20, () => stalls++);
    disposed.start();
    disposed.dispose();
    disposed.start();
    await sleep(60);
    expect(stalls).toBe(0);
  });

  it("sets one timer at a time however often the wait moves or restarts", async () => {
    const timers = vi.spyOn(globalThis, "setTimeout");
    const watch = new StallWatch(1_000, () => {});
    for (let i = 0; i < 500; i++) {
      watch.start();
      watch.moved();
      watch.stop();
    }
    expect(timers).toHaveBeenCalledTimes(1);
    watch.dispose();
  });
});
