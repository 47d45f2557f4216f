import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { BlobFill } from "../../src/platform/blob-fill";
import { SWEEP_MS } from "../../src/platform/upload-alarm";
import { R2BlobStore } from "../../src/storage/blob-store";
import { OpenMultiparts } from "../../src/storage/open-multipart";
import { PendingUploads } from "../../src/storage/pending-upload";
import { Spool } from "../../src/storage/spool";
import { SqliteFill } from "../../src/storage/sqlite-fill";
import { beginForeground } from "../../src/util/foreground";
import { pseudoRandomBytes, sha256 } from "../support/fake-registry";
import { bytesOf, fakeUpstreams, mirror, storedBlob } from "../support/mirror";
import { fillObject, objectStorage } from "../support/object-storage";

const MIB = 1024 * 1024;
let upstreams: ReturnType<typeof fakeUpstreams>;
beforeEach(() => {
  upstreams = fakeUpstreams();
});
afterEach(() => vi.restoreAllMocks());

function storedKey(digest: string): string {
  const [algorithm, hex] = digest.split(":");
  return `blobs/${algorithm}/${hex}`;
}

/** What an instance restarted (or cut off) between its download and its upload leaves: rows and the record. */
async function leaveVerifiedSpool(
  bytes: Uint8Array,
  digest: string,
  left: (pending: PendingUploads) => void = () => {},
): Promise<DurableObjectStub> {
  const stub = fillObject(digest);
  await runInDurableObject(stub, async (_instance, state) => {
    const sql = state.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS chunks (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)");
    for (let seq = 0; seq * MIB < bytes.length; seq++) {
      sql.exec(
        "INSERT INTO chunks (seq, data) VALUES (?, ?)",
        seq,
        bytes.slice(seq * MIB, (seq + 1) * MIB).buffer,
      );
    }
    const pending = new PendingUploads(sql);
    pending.record({
      digest,
      size: bytes.length,
      restricted: false,
      upstream: "quay",
      name: "org/app",
      spool: "chunks",
    });
    left(pending);
    await state.storage.setAlarm(Date.now() + 60_000);
  });
  return stub;
}

async function storedBytes(digest: string): Promise<Uint8Array | null> {
  const object = await env.BLOBS.get(storedKey(digest));
  return object ? new Uint8Array(await object.arrayBuffer()) : null;
}

describe("the upload of a spool, in resumable steps", () => {
  it("goes on at part N+1 after a step cut off after N parts, never putting a part twice", async () => {
    // 16 MiB above the 5 MiB multipart threshold: four parts of 5 MiB (the last one 1 MiB).
    const bytes = pseudoRandomBytes(16 * MIB, 81);
    const digest = await sha256(bytes);
    const stub = await leaveVerifiedSpool(bytes, digest);
    const putPart = R2BlobStore.prototype.putPart;
    const parts: number[] = [];
    let cutOff = true;
    vi.spyOn(R2BlobStore.prototype, "putPart").mockImplementation(function (this: R2BlobStore, ...args) {
      // The step dies after its second part (as an alarm the platform kills would).
      if (cutOff && parts.length === 2) throw new Error("the alarm was killed");
      parts.push(args[2]);
      return putPart.apply(this, args);
    });
    await runDurableObjectAlarm(stub);
    expect(parts).toEqual([1, 2]);
    expect(await env.BLOBS.head(storedKey(digest))).toBeNull();
    // The parts that reached the store are recorded, with the attempt (counted before the step worked).
    await runInDurableObject(stub, (_instance, state) => {
      const pending = new PendingUploads(state.storage.sql);
      expect(pending.parts().map((part) => part.partNumber)).toEqual([1, 2]);
      expect(pending.get()?.uploadId).toBeTruthy();
    });
    cutOff = false;
    await runDurableObjectAlarm(stub);
    expect(parts).toEqual([1, 2, 3, 4]);
    const stored = await storedBytes(digest);
    expect(stored && (await sha256(stored))).toBe(digest);
    expect(await objectStorage(stub)).toMatchObject({ tables: [], rows: 0 });
    expect(upstreams.quay.requests).toEqual([]);
  });

  it("counts attempts the platform killed: past three, the multipart upload is aborted and the spool dropped", async () => {
    const bytes = pseudoRandomBytes(11 * MIB, 82);
    const digest = await sha256(bytes);
    upstreams.quay.addBlob(bytes, digest);
    // A multipart upload begun, one part in, then three steps that never came back (each counted).
    const upload = await env.BLOBS.createMultipartUpload(storedKey(digest));
    const part = await upload.uploadPart(1, bytes.slice(0, 5 * MIB));
    const stub = await leaveVerifiedSpool(bytes, digest, (pending) => {
      pending.begun(upload.uploadId);
      pending.partDone(part);
      for (let killed = 0; killed < 3; killed++) pending.countAttempt();
    });
    const aborted = vi.spyOn(R2BlobStore.prototype, "abortParts");
    const logged = vi.spyOn(console, "log");
    await runDurableObjectAlarm(stub);
    expect(aborted).toHaveBeenCalledTimes(1);
    expect(aborted.mock.calls[0]?.[1]).toBe(upload.uploadId);
    // R2 no longer knows the upload: nothing is left to the bucket's lifecycle rule.
    await expect(
      env.BLOBS.resumeMultipartUpload(storedKey(digest), upload.uploadId).complete([part]),
    ).rejects.toThrow();
    expect(
      logged.mock.calls.map(([line]) => String(line)).some((line) => /"event":"blob\.abandoned"/.test(line)),
    ).toBe(true);
    expect(await objectStorage(stub)).toMatchObject({ tables: [], rows: 0 });
    // The next pull fetches it again, and it is stored (by the object's alarm; bounded wait).
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    expect(await sha256(await bytesOf(response))).toBe(digest);
    expect(upstreams.quay.count("blob", "GET")).toBe(1);
    await storedBlob(digest);
    const stored = await storedBytes(digest);
    expect(stored && (await sha256(stored))).toBe(digest);
  });

  it("finishes while a client streams from the isolate throughout, giving way to it for exactly its bound: 50 ms per MiB", async () => {
    const bytes = pseudoRandomBytes(16 * MIB, 83);
    const digest = await sha256(bytes);
    const stub = await leaveVerifiedSpool(bytes, digest);
    // A virtual clock: every wait of the upload's is a timer, so the clock moves only by what it waited.
    // The alarm runs in the object's own context: a timer must ring where it was set.
    vi.useFakeTimers({ toFake: ["Date", "setTimeout", "clearTimeout"] });
    const client = beginForeground();
    try {
      const waited = await runInDurableObject(stub as DurableObjectStub<BlobFill>, async (instance) => {
        const started = Date.now();
        let done = false;
        const alarm = instance.alarm().finally(() => {
          done = true;
        });
        // Bounded: each turn lets the store's I/O move (a real wait) and the upload's next timer ring.
        for (let turn = 0; turn < 5_000 && !done; turn++) {
          await scheduler.wait(1);
          vi.advanceTimersToNextTimer();
        }
        await alarm;
        return Date.now() - started;
      });
      // Stored in this one alarm, the client still streaming.
      const stored = await storedBytes(digest);
      expect(stored && (await sha256(stored))).toBe(digest);
      // 800 ms before it starts (50 ms per MiB, as the client never pauses), then 50 ms before each MiB.
      // The old pacing waited 2 s to start and up to 250 ms per MiB (6 s in all) while a client streamed.
      expect(waited).toBe(16 * 50 + 16 * 50);
    } finally {
      client();
      vi.useRealTimers();
    }
  });
});

describe("a spooled blob that fits one put", () => {
  it("streams to the store as it spools: stored about when its download ends, with no upload left to the alarm", async () => {
    const bytes = pseudoRandomBytes(3 * MIB, 88);
    const digest = await sha256(bytes);
    upstreams.quay.addBlob(bytes, digest);
    const steps = vi.spyOn(SqliteFill.prototype, "uploadStep");
    const logged = vi.spyOn(console, "log");
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    expect(await sha256(await bytesOf(response))).toBe(digest);
    // Bounded: the put ends with the verdict on the last row.
    for (let poll = 0; poll < 200 && (await env.BLOBS.head(storedKey(digest))) === null; poll++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    const stored = await storedBytes(digest);
    expect(stored && (await sha256(stored))).toBe(digest);
    expect(steps).not.toHaveBeenCalled();
    // The fill's last line says what the fills of its isolate hold in memory, and the most they held
    // (on the platform the only place to see a fill object's isolate).
    const lines = logged.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>);
    const end = lines.find((line) => line.event === "blob.stored" && line.digest === digest);
    expect(end?.held).toEqual(expect.any(Number));
    expect(end?.heldPeak).toBeGreaterThanOrEqual(Math.max(Number(end?.held), 1));
    await runInDurableObject(fillObject(digest), (_instance, state) => {
      expect(new PendingUploads(state.storage.sql).get()).toBeNull();
    });
  });

  it("leaves the upload to the alarm, from the spool, when the store refused the put that streamed", async () => {
    const bytes = pseudoRandomBytes(3 * MIB, 89);
    const digest = await sha256(bytes);
    upstreams.quay.addBlob(bytes, digest);
    const put = R2BlobStore.prototype.put;
    let refused = 0;
    vi.spyOn(R2BlobStore.prototype, "put").mockImplementation(async function (this: R2BlobStore, ...args) {
      if (refused++ === 0) {
        await args[1].cancel();
        return false;
      }
      return put.apply(this, args);
    });
    const steps = vi.spyOn(SqliteFill.prototype, "uploadStep");
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    expect(await sha256(await bytesOf(response))).toBe(digest);
    // The verified spool is recorded and left to the object's alarm (run here as soon as it is set).
    const stub = fillObject(digest);
    for (let poll = 0; poll < 250 && (await env.BLOBS.head(storedKey(digest))) === null; poll++) {
      await runDurableObjectAlarm(stub);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const stored = await storedBytes(digest);
    expect(stored && (await sha256(stored))).toBe(digest);
    expect(steps).toHaveBeenCalledTimes(1);
  });
});

describe("what a fill object leaves in its storage", () => {
  it("nothing for a HEAD, a range or a GET of a digest nobody downloads", async () => {
    const bytes = pseudoRandomBytes(2 * MIB, 84);
    const digest = await sha256(bytes);
    upstreams.quay.addBlob(bytes, digest);
    expect((await mirror(`/v2/quay/org/app/blobs/${digest}`, { method: "HEAD" })).status).toBe(200);
    const range = await mirror(`/v2/quay/org/app/blobs/${digest}`, { headers: { Range: "bytes=0-9" } });
    expect((await bytesOf(range)).length).toBe(10);
    const missing = `sha256:${"1".repeat(64)}`;
    expect((await mirror(`/v2/quay/org/app/blobs/${missing}`)).status).toBe(404);
    for (const asked of [digest, missing]) {
      const left = await objectStorage(fillObject(asked));
      console.log(`storage of ${asked.slice(0, 15)}…: ${JSON.stringify(left)}`);
      expect(left).toMatchObject({ tables: [], rows: 0 });
    }
  });

  it("no rows of a download its instance did not live to finish: the object's own alarm sweeps them", async () => {
    const bytes = pseudoRandomBytes(6 * MIB, 85);
    const digest = await sha256(bytes);
    upstreams.quay.addBlob(bytes, digest);
    upstreams.quay.blobPauseMs = 500;
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    const stub = fillObject(digest);
    // A download spooling into SQLite has the alarm set to look again within minutes.
    await runInDurableObject(stub, async (_instance, state) => {
      const at = await state.storage.getAlarm();
      expect(at).not.toBeNull();
      expect((at ?? 0) - Date.now()).toBeLessThanOrEqual(SWEEP_MS);
    });
    // While it runs, the alarm leaves it alone.
    await runDurableObjectAlarm(stub);
    expect(await sha256(await bytesOf(response))).toBe(digest);

    // An instance evicted mid-download leaves rows, and the alarm it set: a fresh instance's alarm drops them.
    const evicted = await sha256(pseudoRandomBytes(3 * MIB, 86));
    const orphan = fillObject(evicted);
    await runInDurableObject(orphan, async (_instance, state) => {
      const sql = state.storage.sql;
      sql.exec("CREATE TABLE chunks (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)");
      for (let seq = 0; seq < 3; seq++)
        sql.exec("INSERT INTO chunks (seq, data) VALUES (?, ?)", seq, new ArrayBuffer(MIB));
      await state.storage.setAlarm(Date.now() + SWEEP_MS);
    });
    const before = await objectStorage(orphan);
    expect(before.rows).toBe(3);
    expect(await runDurableObjectAlarm(orphan)).toBe(true);
    const after = await objectStorage(orphan);
    console.log(
      `evicted download: before the sweep ${JSON.stringify(before)}, after ${JSON.stringify(after)}`,
    );
    expect(after).toMatchObject({ tables: [], rows: 0 });
  });

  it("the rows of a stored download only once its slowest client is done: the sweep leaves them to it, and looks again", async () => {
    const bytes = pseudoRandomBytes(12 * MIB, 89);
    const digest = await sha256(bytes);
    upstreams.quay.addBlob(bytes, digest);
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const chunks: Uint8Array[] = [(await reader.read()).value as Uint8Array];
    // The client reads nothing more while the blob is downloaded and uploaded (alarms run as set).
    const stub = fillObject(digest);
    for (let poll = 0; poll < 250 && (await env.BLOBS.head(storedKey(digest))) === null; poll++) {
      await runDurableObjectAlarm(stub);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await env.BLOBS.head(storedKey(digest))).not.toBeNull();
    // The fill is over, its rows outlive it: the sweep alarm is set (an instance evicted now leaves
    // them to the next one's). It comes while the client is still on the spool: the rows stay, and the
    // alarm is set again.
    await runInDurableObject(stub, async (_instance, state) => {
      const at = await state.storage.getAlarm();
      expect(at).not.toBeNull();
      expect((at ?? 0) - Date.now()).toBeLessThanOrEqual(SWEEP_MS);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, async (_instance, state) => {
      expect(Spool.left(state.storage.sql)).toBeGreaterThanOrEqual(12);
      expect(await state.storage.getAlarm()).not.toBeNull();
    });
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) chunks.push(chunk.value);
    expect(await sha256(new Uint8Array(await new Blob(chunks).arrayBuffer()))).toBe(digest);
    // The rows went with the client; the next sweep finds nothing to keep and sets no alarm.
    expect(await objectStorage(stub)).toMatchObject({ tables: [], rows: 0 });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, async (_instance, state) => {
      expect(await state.storage.getAlarm()).toBeNull();
    });
  });

  it("no multipart upload of a store-through download: recorded while open, forgotten once stored", async () => {
    // 20 MiB: above SPOOL_MAX_BYTES (16 MiB here), stored as it streams in 5 MiB parts.
    const bytes = pseudoRandomBytes(20 * MIB, 87);
    const digest = await sha256(bytes);
    upstreams.quay.addBlob(bytes, digest);
    // The upstream sends half the blob, then pauses.
    upstreams.quay.blobPauseMs = 3_000;
    const response = await mirror(`/v2/quay/org/app/blobs/${digest}`);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const chunks: Uint8Array[] = [];
    const first = await reader.read();
    chunks.push(first.value as Uint8Array);
    const stub = fillObject(digest);
    let open: ReturnType<OpenMultiparts["list"]> = [];
    for (let tries = 0; tries < 100 && open.length === 0; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      open = await runInDurableObject(stub, (_instance, state) =>
        new OpenMultiparts(state.storage.sql).list(),
      );
    }
    expect(open).toMatchObject([{ digest, key: storedKey(digest) }]);
    await runInDurableObject(stub, async (_instance, state) => {
      const at = await state.storage.getAlarm();
      expect((at ?? Number.POSITIVE_INFINITY) - Date.now()).toBeLessThanOrEqual(SWEEP_MS);
    });
    // The alarm leaves the upload of a download that runs alone.
    await runDurableObjectAlarm(stub);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
    let length = 0;
    for (const chunk of chunks) length += chunk.byteLength;
    expect(length).toBe(bytes.length);
    for (
      let tries = 0;
      tries < 10 && !(await env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(digest)).settled(10_000));
      tries++
    ) {}
    const stored = await storedBytes(digest);
    expect(stored && (await sha256(stored))).toBe(digest);
    expect(await objectStorage(stub)).toMatchObject({ tables: [], rows: 0 });
  });

  it("no multipart upload an instance killed mid-store-through left open: the object's own alarm aborts it", async () => {
    const bytes = pseudoRandomBytes(12 * MIB, 88);
    const digest = await sha256(bytes);
    // What the killed instance left: an upload open in R2 with a part in, its record, and its alarm.
    const upload = await env.BLOBS.createMultipartUpload(storedKey(digest));
    const part = await upload.uploadPart(1, bytes.slice(0, 5 * MIB));
    const stub = fillObject(digest);
    await runInDurableObject(stub, async (_instance, state) => {
      new OpenMultiparts(state.storage.sql).begun({
        uploadId: upload.uploadId,
        digest,
        key: storedKey(digest),
      });
      await state.storage.setAlarm(Date.now() + SWEEP_MS);
    });
    const before = await objectStorage(stub);
    expect(before.rows).toBe(1);
    const logged = vi.spyOn(console, "log");
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    // R2 no longer knows the upload: nothing is left to the bucket's lifecycle rule.
    await expect(
      env.BLOBS.resumeMultipartUpload(storedKey(digest), upload.uploadId).complete([part]),
    ).rejects.toThrow();
    expect(await env.BLOBS.head(storedKey(digest))).toBeNull();
    expect(
      logged.mock.calls
        .map(([line]) => String(line))
        .some((line) => /"event":"blob\.multipart_aborted"/.test(line)),
    ).toBe(true);
    const after = await objectStorage(stub);
    console.log(
      `killed store-through: before the alarm ${JSON.stringify(before)}, after ${JSON.stringify(after)}`,
    );
    expect(after).toMatchObject({ tables: [], rows: 0 });
  });
});
