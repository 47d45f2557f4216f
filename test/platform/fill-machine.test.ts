import { describe, expect, it, vi } from "vitest";
import architecture from "../../ARCHITECTURE.md?raw";
import { FillMachine, transitions } from "../../src/platform/fill-machine";

describe("the fill state machine", () => {
  it("is drawn in ARCHITECTURE.md exactly as the code has it", () => {
    const diagram = /```mermaid\nstateDiagram-v2\n([\s\S]*?)```/.exec(architecture)?.[1] ?? "";
    const drawn = [...diagram.matchAll(/^\s*(\w+) --> (\w+)\s*$/gm)].map((m) => `${m[1]} → ${m[2]}`);
    const coded = transitions().map(([from, to]) => `${from} → ${to}`);
    expect(drawn.sort()).toEqual(coded.sort());
  });

  it("logs every transition with the digest, and refuses one the table does not have", () => {
    const log = vi.fn();
    const machine = new FillMachine("sha256:abc", () => log);
    machine.to("downloading", { upstream: "quay" });
    // A long download: its start is logged once it is known to be long.
    machine.flush();
    machine.to("verified", { size: 3 });
    expect(() => machine.to("downloading")).toThrow(/no transition verified → downloading/);
    expect(machine.state).toBe("verified");
    // The fill waits here (for its alarm): what it held back is logged.
    machine.flush();
    machine.flush();
    expect(log.mock.calls.map(([fields]) => fields)).toEqual([
      { event: "blob.downloading", digest: "sha256:abc", from: "idle", upstream: "quay" },
      { event: "blob.verified", digest: "sha256:abc", from: "downloading", size: 3 },
    ]);
  });

  it("logs a fill that is not flushed on one line, at its end: the steps as `via`, their details merged", () => {
    const log = vi.fn();
    const machine = new FillMachine("sha256:abc", () => log);
    machine.to("downloading", { upstream: "quay", name: "org/app" });
    machine.to("verified", { size: 3 });
    machine.to("uploading", { way: "memory" });
    expect(log).not.toHaveBeenCalled();
    machine.to("stored", { size: 3 });
    expect(log.mock.calls.map(([fields]) => fields)).toEqual([
      {
        event: "blob.stored",
        digest: "sha256:abc",
        from: "idle",
        via: "downloading → verified → uploading",
        upstream: "quay",
        name: "org/app",
        size: 3,
        way: "memory",
      },
    ]);
  });

  it("keeps both values of a detail two merged steps give differently, in their order", () => {
    const log = vi.fn();
    const machine = new FillMachine("sha256:abc", () => log);
    machine.to("downloading", { way: "sqlite", size: 3 });
    machine.to("verified", { cause: "store_refused", streamed: true, size: 3 });
    machine.to("uploading", { way: "sqlite" });
    machine.to("failed", { cause: "store_failed" });
    expect(log.mock.calls.map(([fields]) => fields)).toEqual([
      {
        event: "blob.failed",
        digest: "sha256:abc",
        from: "idle",
        via: "downloading → verified → uploading",
        way: "sqlite",
        size: 3,
        cause: "store_refused → store_failed",
        streamed: true,
      },
    ]);
  });

  it("logs a failure at once, with where the fill was", () => {
    const log = vi.fn();
    const machine = new FillMachine("sha256:abc", () => log);
    machine.to("downloading", { upstream: "quay" });
    machine.to("failed", { cause: "upstream_404" });
    machine.to("downloading", { upstream: "quay" });
    expect(log.mock.calls.map(([fields]) => fields)).toEqual([
      {
        event: "blob.failed",
        digest: "sha256:abc",
        from: "idle",
        via: "downloading",
        upstream: "quay",
        cause: "upstream_404",
      },
    ]);
  });
});
