import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PendingUploads } from "../../src/storage/pending-upload";
import { countStorage } from "../support/counting-env";
import { pseudoRandomBytes, sha256 } from "../support/fake-registry";
import { bytesOf, fakeUpstreams, mirror, storedBlob } from "../support/mirror";
import { objectStorage } from "../support/object-storage";

const MIB = 1024 * 1024;
let upstreams: ReturnType<typeof fakeUpstreams>;
beforeEach(() => {
  upstreams = fakeUpstreams();
});
afterEach(() => vi.restoreAllMocks());

/**
 * Leaves in a fill object's storage what an instance restarted between its download and its upload
 * leaves: the verified spool's rows and the pending upload.
 */
async function leaveVerifiedSpool(
  bytes: Uint8Array,
  digest: string,
  /** `earlier`: as a version before a table per spool left it (one `chunks` table, a record without it). */
  version: "this" | "earlier" = "this",
): Promise<DurableObjectStub> {
  const stub = env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(digest));
  await runInDurableObject(stub, async (_instance, state) => {
    const sql = state.storage.sql;
    const table = version === "this" ? "chunks_left_1" : "chunks";
    sql.exec(`CREATE TABLE ${table} (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)`);
    for (let seq = 0; seq * MIB < bytes.length; seq++) {
      sql.exec(
        `INSERT INTO ${table} (seq, data) VALUES (?, ?)`,
        seq,
        bytes.slice(seq * MIB, (seq + 1) * MIB).buffer,
      );
    }
    const owner = { digest, size: bytes.length, restricted: false, upstream: "quay", name: "org/app" };
    if (version === "this") new PendingUploads(sql).record({ ...owner, spool: table });
    else {
      sql.exec(
        "CREATE TABLE pending_upload (id INTEGER PRIMARY KEY CHECK (id = 1), digest TEXT NOT NULL, size INTEGER NOT NULL, restricted INTEGER NOT NULL, upstream TEXT NOT NULL, name TEXT NOT NULL, attempts INTEGER NOT NULL, upload_id TEXT)",
      );
      sql.exec(
        "INSERT INTO pending_upload VALUES (1, ?, ?, 0, 'quay', 'org/app', 0, NULL)",
        digest,
        bytes.length,
      );
    }
    // The alarm the old instance set (later than now here, so the test runs it when it chooses).
    await state.storage.setAlarm(Date.now() + 60_000);
  });
  return stub;
}

function storedKey(digest: string): string {
  const [algorithm, hex] = digest.split(":");
  return `blobs/${algorithm}/${hex}`;
}

describe("a verified spool whose upload is pending", () => {
  it("is uploaded by the object's alarm after a restart, and its rows are dropped", async () => {
    const bytes = pseudoRandomBytes(2 * MIB + 99, 71);
    const digest = await sha256(bytes);
    const stub = await leaveVerifiedSpool(bytes, digest);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const stored = await env.BLOBS.get(storedKey(digest));
    expect(stored?.size).toBe(bytes.length);
    expect(await sha256(new Uint8Array(await (stored as R2ObjectBody).arrayBuffer()))).toBe(digest);
    // Nothing left: no rows, no record, not even their tables.
    expect(await objectStorage(stub)).toMatchObject({ tables: [], rows: 0 });
    expect(upstreams.quay.requests).toEqual([]);
  });

  it("is uploaded all the same when a version before tables per spool left it", async () => {
    const bytes = pseudoRandomBytes(MIB + 7, 70);
    const digest = await sha256(bytes);
    const stub = await leaveVerifiedSpool(bytes, digest, "earlier");
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const stored = await env.BLOBS.get(storedKey(digest));
    expect(await sha256(new Uint8Array(await (stored as R2ObjectBody).arrayBuffer()))).toBe(digest);
    expect(await objectStorage(stub)).toMatchObject({ tables: [], rows: 0 });
    expect(upstreams.quay.requests).toEqual([]);
  });

  it("serves clients from the spool meanwhile, without asking the upstream", async () => {
    const bytes = pseudoRandomBytes(MIB + 5, 72);
    const digest = await sha256(bytes);
    await leaveVerifiedSpool(bytes, digest);
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Length")).toBe(String(bytes.length));
    expect(await sha256(await bytesOf(response))).toBe(digest);
    expect(upstreams.quay.requests).toEqual([]);
  });

  it("is dropped, never uploaded, when its rows are not the whole blob", async () => {
    const bytes = pseudoRandomBytes(2 * MIB, 73);
    const digest = await sha256(bytes);
    const stub = await leaveVerifiedSpool(bytes.slice(0, MIB), digest);
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE pending_upload SET size = ?", bytes.length);
    });
    await runDurableObjectAlarm(stub);
    expect(await env.BLOBS.head(storedKey(digest))).toBeNull();
    expect(await objectStorage(stub)).toMatchObject({ tables: [], rows: 0 });
  });

  it("is tried again by a later alarm when R2 refuses it, and then stored", async () => {
    const bytes = pseudoRandomBytes(MIB + 7, 74);
    const digest = await sha256(bytes);
    const stub = await leaveVerifiedSpool(bytes, digest);
    const storage = countStorage();
    storage.fail("r2.put", new Error("R2 put failed: 429 Too Many Requests"));
    await runDurableObjectAlarm(stub);
    expect(await env.BLOBS.head(storedKey(digest))).toBeNull();
    storage.heal();
    // Meanwhile the spool still serves.
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    expect(await sha256(await bytesOf(response))).toBe(digest);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await env.BLOBS.head(storedKey(digest)))?.size).toBe(bytes.length);
    expect(storage.count("r2.put")).toBe(2);
    expect(upstreams.quay.requests).toEqual([]);
  });
});

describe("R2 trouble on the blob path", () => {
  it("serves a blob from the upstream when R2 reads fail, and stores it once R2 is back", async () => {
    const bytes = pseudoRandomBytes(MIB + 3, 75);
    const digest = await sha256(bytes);
    upstreams.quay.addBlob(bytes, digest);
    const storage = countStorage();
    storage.fail("r2.head", new Error("R2 head failed: 503"));
    storage.fail("r2.get", new Error("R2 get failed: 503"));
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    expect(response.status).toBe(200);
    expect(await sha256(await bytesOf(response))).toBe(digest);
    storage.heal();
    expect((await storedBlob(digest))?.size).toBe(bytes.length);
    expect(upstreams.quay.count("blob", "GET")).toBe(1);
  });
});

describe("a fill's spool after its upload", () => {
  it("is gone from the object's storage once the blob is stored", async () => {
    const bytes = pseudoRandomBytes(3 * MIB + 1, 76);
    const digest = await sha256(bytes);
    upstreams.quay.addBlob(bytes, digest);
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    expect(await sha256(await bytesOf(response))).toBe(digest);
    expect((await storedBlob(digest))?.size).toBe(bytes.length);
    const stub = env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(digest));
    const left = async () => (await objectStorage(stub)).tables.length;
    // The object drops them right after the store answered (no reader keeps them).
    for (let attempt = 0; attempt < 500 && (await left()) > 0; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await left()).toBe(0);
  });
});

describe("the object's own look at the store", () => {
  /** Until the blob is in R2 (the object's alarm uploads it), within 10 s. */
  async function untilStored(digest: string): Promise<void> {
    expect(await storedBlob(digest)).not.toBeNull();
  }

  it("is not taken before a cold blob's download: the Worker's miss is enough", async () => {
    const bytes = pseudoRandomBytes(MIB + 5, 77);
    const digest = await sha256(bytes);
    upstreams.quay.addBlob(bytes, digest);
    const storage = countStorage();
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    expect(await sha256(await bytesOf(response))).toBe(digest);
    expect(storage.count("r2.get")).toBe(1);
    expect(storage.count("r2.head")).toBe(0);
    await untilStored(digest);
  });

  it("is taken once its own upload has landed: a request that missed just before is sent to the store", async () => {
    const bytes = pseudoRandomBytes(MIB + 6, 78);
    const digest = await sha256(bytes);
    upstreams.quay.addBlob(bytes, digest);
    expect(await sha256(await bytesOf(await mirror(`/v2/quay/org/app/blobs/${digest}`)))).toBe(digest);
    await untilStored(digest);
    const stub = env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(digest));
    // Its download and upload are over (until then a request joins the spool instead).
    expect(await stub.settled(10_000)).toBe(true);
    const job = { upstream: "quay", name: "org/app", digest, method: "GET", range: null } as const;
    // As a Worker whose read of the store came just before the upload landed.
    expect(await stub.open(job)).toEqual({ ok: true, result: { kind: "elsewhere" } });
    expect(upstreams.quay.count("blob", "GET")).toBe(1);
    // Gone from the store since (a purge): the object downloads it again.
    await env.BLOBS.delete(storedKey(digest));
    const again = await stub.open(job);
    expect(again.ok && again.result.kind).toBe("download");
    if (again.ok && again.result.kind === "download") await again.result.body?.cancel();
    expect(upstreams.quay.count("blob", "GET")).toBe(2);
    await untilStored(digest);
  });
});
