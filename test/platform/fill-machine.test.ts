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
    machine.to("verified");
    expect(() => machine.to("downloading")).toThrow(/no transition verified → downloading/);
    expect(machine.state).toBe("verified");
    // The fill waits here (for its alarm): what it held back is logged.
    machine.flush();
    expect(log.mock.calls.map(([fields]) => fields)).toEqual([
      { event: "blob.downloading", digest: "sha256:abc", from: "idle", upstream: "quay" },
      { event: "blob.verified", digest: "sha256:abc", from: "downloading" },
    ]);
  });

  it("logs the steps between a fill's start and its end on the end's line, as `via`: two lines per fill", () => {
    const log = vi.fn();
    const machine = new FillMachine("sha256:abc", () => log);
    machine.to("downloading", { upstream: "quay" });
    machine.to("verified", { size: 3 });
    machine.to("uploading", { way: "memory" });
    machine.to("stored", { size: 3, way: "memory" });
    expect(log.mock.calls.map(([fields]) => fields)).toEqual([
      { event: "blob.downloading", digest: "sha256:abc", from: "idle", upstream: "quay" },
      {
        event: "blob.stored",
        digest: "sha256:abc",
        from: "uploading",
        via: "verified → uploading",
        size: 3,
        way: "memory",
      },
    ]);
  });
});
