import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  QUARANTINE_REFRESH_MS,
  Quarantine,
  type QuarantineLoad,
  type QuarantineSnapshot,
} from "../../src/access/quarantine";
import { RegistryError } from "../../src/oci/errors";
import type { MirrorStats } from "../../src/platform/stats-object";

const namespace = env.STATS as DurableObjectNamespace<MirrorStats>;
let objects = 0;

/** A stats object of its own, and a loader that counts the calls an isolate makes to it. */
function statsObject() {
  const stub = namespace.get(namespace.idFromName(`quarantine-spec-${++objects}`));
  const calls = { count: 0 };
  const load: QuarantineLoad = async (known) => {
    calls.count++;
    return (await stub.quarantined(known)) as QuarantineSnapshot | null;
  };
  return { stub, load, calls };
}

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;

async function refusal(quarantine: Quarantine, of: string): Promise<RegistryError | null> {
  try {
    await quarantine.check(of);
    return null;
  } catch (error) {
    if (error instanceof RegistryError) return error;
    throw error;
  }
}

describe("the quarantine list in each isolate", () => {
  it("a change made anywhere is enforced in every isolate within the refresh period, one read each", async () => {
    const { stub, load, calls } = statsObject();
    let clock = 1_000_000;
    const now = () => clock;
    // Two isolates that have each read the (empty) list once (waiting for each read, however slow the
    // machine: what is specified here is when a change is seen, not how long a pull waits).
    const first = new Quarantine(load, now, 60_000);
    const second = new Quarantine(load, now, 60_000);
    expect(await refusal(first, digest(1))).toBeNull();
    expect(await refusal(second, digest(1))).toBeNull();
    expect(calls.count).toBe(2);

    clock += 10_000;
    await stub.quarantineDigest(digest(1), "found by the scanner");
    // Within the period they serve on what they read: no storage read per request.
    for (let request = 0; request < 50; request++) expect(await refusal(first, digest(1))).toBeNull();
    expect(calls.count).toBe(2);

    clock += QUARANTINE_REFRESH_MS - 10_000;
    for (const isolate of [first, second]) {
      const error = await refusal(isolate, digest(1));
      expect(error?.status).toBe(403);
      expect(error?.code).toBe("DENIED");
      expect(error?.message).toBe(`${digest(1)} is quarantined: found by the scanner`);
    }
    expect(calls.count).toBe(4);

    // Released: served again after the next refresh.
    await stub.releaseDigest(digest(1));
    clock += QUARANTINE_REFRESH_MS;
    expect(await refusal(first, digest(1))).toBeNull();
  });

  it("an unchanged list is not sent again (the object answers 'unchanged')", async () => {
    const { stub } = statsObject();
    await stub.quarantineDigest(digest(2), "bad");
    const snapshot = (await stub.quarantined(null)) as QuarantineSnapshot;
    expect(snapshot.entries.map((entry) => entry.digest)).toEqual([digest(2)]);
    expect(await stub.quarantined(snapshot.version)).toBeNull();
    await stub.quarantineDigest(digest(3), "bad too");
    expect(await stub.quarantined(snapshot.version)).not.toBeNull();
  });

  it("a change made through this isolate applies at once", async () => {
    const { load } = statsObject();
    let clock = 0;
    const quarantine = new Quarantine(load, () => clock);
    await quarantine.check(digest(4));
    quarantine.applied(digest(4), { digest: digest(4), reason: "now", since: new Date(0).toISOString() });
    expect((await refusal(quarantine, digest(4)))?.message).toContain("now");
    quarantine.applied(digest(4), null);
    clock += 1;
    expect(await refusal(quarantine, digest(4))).toBeNull();
  });

  it("a pull waits for a slow read at most QUARANTINE_WAIT_MS, and the read still lands", async () => {
    let finish: (snapshot: QuarantineSnapshot) => void = () => {};
    const load: QuarantineLoad = () => new Promise((resolve) => (finish = resolve));
    const quarantine = new Quarantine(load, () => 0, 10);
    expect(await refusal(quarantine, digest(8))).toBeNull();
    finish({
      version: 1,
      entries: [{ digest: digest(8), reason: "late", since: new Date(0).toISOString() }],
    });
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect((await refusal(quarantine, digest(8)))?.message).toContain("late");
  });

  it("when the list cannot be read, the one the isolate had stands, and pulls go on", async () => {
    let fail = false;
    const load: QuarantineLoad = async () => {
      if (fail) throw new Error("Durable Object reset");
      return {
        version: 1,
        entries: [{ digest: digest(5), reason: "bad", since: new Date(0).toISOString() }],
      };
    };
    let clock = 0;
    const quarantine = new Quarantine(load, () => clock);
    expect((await refusal(quarantine, digest(5)))?.status).toBe(403);
    fail = true;
    clock += QUARANTINE_REFRESH_MS;
    expect((await refusal(quarantine, digest(5)))?.status).toBe(403);
    expect(await refusal(quarantine, digest(6))).toBeNull();
  });

  it("without a stats object there is no list and nothing is read", async () => {
    expect(await refusal(new Quarantine(null), digest(7))).toBeNull();
  });
});
