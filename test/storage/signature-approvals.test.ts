import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type Approval, KvApprovalStore } from "../../src/storage/signature-approvals";

const DIGEST = `sha256:${"ab".repeat(32)}`;
const approved = (how: string, complete = true): ReadonlyMap<string, Approval> =>
  new Map([[DIGEST, { how, complete }]]);

describe("KvApprovalStore", () => {
  it("finds an approval another isolate made (KV), and keeps it in its own memory after", async () => {
    const failures: string[] = [];
    await new KvApprovalStore(env.MANIFESTS, new Map(), (operation) => failures.push(operation)).put(
      "v1",
      approved("legacy signature, key 0"),
    );
    const memory = new Map<string, Approval>();
    const elsewhere = new KvApprovalStore(env.MANIFESTS, memory, (operation) => failures.push(operation));
    expect(await elsewhere.get("v1", DIGEST)).toEqual({ how: "legacy signature, key 0", complete: true });
    expect(memory.size).toBe(1);
    // Another entry version knows nothing of it: a changed policy verifies again.
    expect(await elsewhere.get("v2", DIGEST)).toBeNull();
    expect(failures).toEqual([]);
  });

  it("completes an approval but never weakens one", async () => {
    const store = new KvApprovalStore(env.MANIFESTS, new Map(), () => {});
    await store.put("v3", approved("named by index", false));
    await store.put("v3", approved("named by index", true));
    await store.put("v3", approved("named by index", false));
    const fresh = new KvApprovalStore(env.MANIFESTS, new Map(), () => {});
    expect((await fresh.get("v3", DIGEST))?.complete).toBe(true);
  });

  it("treats a KV that fails as a miss and reports it: storage trouble costs a verification, never a pull", async () => {
    const failures: string[] = [];
    const broken = {
      get: () => Promise.reject(new Error("KV down")),
      put: () => Promise.reject(new Error("KV down")),
    } as unknown as KVNamespace;
    const store = new KvApprovalStore(broken, new Map(), (operation) => failures.push(operation));
    expect(await store.get("v4", DIGEST)).toBeNull();
    await store.put("v4", approved("bundle signature, key 0"));
    expect(failures).toEqual(["get", "put"]);
    // What it approved stays known in this isolate.
    expect(await store.get("v4", DIGEST)).not.toBeNull();
  });
});
