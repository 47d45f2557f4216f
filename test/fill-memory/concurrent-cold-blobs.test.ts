import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { HeldBytes } from "../../src/util/held-bytes";
import { pseudoRandomBytes, sha256 } from "../support/fake-registry";
import { fakeUpstreams, mirror } from "../support/mirror";

const MIB = 1024 * 1024;
const BUDGET = 48 * MIB;

async function ops(reset = false): Promise<{ fillMemory: HeldBytes; r2ClassA: number }> {
  const response = await mirror(`/_/ops${reset ? "?reset=1" : ""}`, {
    headers: { Authorization: "Bearer fill-memory-admin-token" },
  });
  expect(response.status).toBe(200);
  return response.json();
}

/** Reads a body to its end, hashing it, without keeping it. */
async function digestOf(body: ReadableStream<Uint8Array>): Promise<string> {
  const hash = new crypto.DigestStream("SHA-256");
  await body.pipeTo(hash);
  const hex = [...new Uint8Array(await hash.digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `sha256:${hex}`;
}

describe("the fills' memory budget (FILL_MEMORY_BYTES, 48 MiB by default)", () => {
  it("holds 12 cold 64 MiB blobs spooled at once through one isolate within it, uploads included", async () => {
    const upstreams = fakeUpstreams();
    // Twelve different blobs of 64 MiB, made cheaply: one random run, a different first word each.
    const base = pseudoRandomBytes(64 * MIB, 12);
    const digests: string[] = [];
    for (let index = 0; index < 12; index++) {
      const blob = base.slice();
      new DataView(blob.buffer).setUint32(0, index);
      const digest = await sha256(blob);
      upstreams.quay.addBlob(blob, digest);
      digests.push(digest);
    }
    expect((await ops(true)).fillMemory.budget).toBe(BUDGET);

    // Every client reads its blob from the first byte while all twelve download.
    const responses = await Promise.all(digests.map((digest) => mirror(`/v2/quay/org/app/blobs/${digest}`)));
    const received = await Promise.all(
      responses.map((response) => digestOf(response.body as ReadableStream)),
    );
    expect(received).toEqual(digests);
    expect(upstreams.quay.count("blob", "GET")).toBe(12);
    // Their uploads from the spools to R2 (held for them: SQLite rows, not memory).
    for (const digest of digests) {
      const fill = env.BLOB_FILLS.get(env.BLOB_FILLS.idFromName(digest));
      for (let tries = 0; tries < 10 && !(await fill.settled(60_000)); tries++) {}
      const [algorithm, hex] = digest.split(":");
      expect((await env.BLOBS.head(`blobs/${algorithm}/${hex}`))?.size).toBe(64 * MIB);
    }
    const { fillMemory } = await ops();
    console.log(`fill memory: peak ${fillMemory.peak} bytes, held now ${fillMemory.held}, budget ${BUDGET}`);
    // Without the budget each spool kept its newest 16 MiB: 12 × 16 MiB = 192 MiB.
    expect(fillMemory.peak).toBeLessThanOrEqual(BUDGET);
    // And the budget was reached: the rows kept for the readers are counted, up to it (the twelve
    // downloads' chunks on their way alone hold 12 MiB).
    expect(fillMemory.peak).toBeGreaterThanOrEqual(BUDGET - MIB);
    expect(fillMemory.held).toBe(0);
  }, 600_000);
});
